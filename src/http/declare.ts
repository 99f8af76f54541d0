import type { Router, RouterContext } from '@koa/router';
import type { Middleware } from 'koa';
import { z } from 'zod';
import type { BearerState } from './middleware/bearer.js';
import { readBody, validated } from './middleware/body.js';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete' | 'options';

/**
 * Who may call a route: anyone; the holder of an access token (Authorization: Bearer, checked by the
 * bearer middleware mount() puts in the chain); the browser holding a web login's poll_token, which
 * its body carries and the route itself checks; or an operator's admin key, which the admin app checks
 * ahead of every route (admin.ts).
 */
export type Auth = 'none' | 'bearer' | 'poll_token' | 'admin';

type Shape = z.ZodType | undefined;
type Parsed<S extends Shape> = S extends z.ZodType ? z.infer<S> : undefined;

/** An OpenAPI response object (description, content, headers), keyed by status. */
export type Responses = Readonly<Record<string, object>>;

/**
 * A route, declared once: the router's validation and the OpenAPI operation at /openapi.json both come
 * from it. Request shapes are zod schemas; the document gets them through z.toJSONSchema, so a field's
 * description belongs in its `.meta({ description })`.
 */
export interface RouteDeclaration<B extends Shape = Shape, P extends Shape = Shape, Q extends Shape = Shape> {
  method: Method;
  /** OpenAPI's form, `/auth/qr/{ticket}/scan`; the router's `/auth/qr/:ticket/scan` is made from it. */
  path: string;
  auth: Auth;
  summary: string;
  description?: string;
  /** Path parameters, validated first (a wrong one is `invalid_request` naming it). */
  params?: P;
  query?: Q;
  /** The body (an object), validated last; absent: the route never reads one. */
  body?: B;
  /** The body may also come form-encoded (the default); false: JSON only is documented. */
  form?: boolean;
  /** Every answer, errors included, as the document states them. */
  responses: Responses;
}

/** What a declared route's handler gets besides the context: the request, as its schemas parsed it. */
export interface RouteInput<B extends Shape, P extends Shape, Q extends Shape> {
  body: Parsed<B>;
  params: Parsed<P>;
  query: Parsed<Q>;
}

/** Identity, for the types: the schemas' parsed shapes reach the handler. */
export function declareRoute<
  B extends Shape = undefined,
  P extends Shape = undefined,
  Q extends Shape = undefined,
>(route: RouteDeclaration<B, P, Q>): RouteDeclaration<B, P, Q> {
  return route;
}

/** The middleware a route runs ahead of its input's validation, either side of the access-token check. */
export interface Guards<S = BearerState> {
  /** Before the token is checked (per-address rate limits, no-store). */
  before?: Middleware<S>[];
  /** After it (limits counted per user). */
  after?: Middleware<S>[];
}

export type RouteHandler<B extends Shape, P extends Shape, Q extends Shape, S = BearerState> = (
  ctx: RouterContext<S>,
  input: RouteInput<B, P, Q>,
) => unknown;

/**
 * Mounts declared routes on `router`: its guards, then the access-token check when the route's `auth`
 * is bearer, then the validation of params, query and body, then the handler.
 */
export function mounter<S = BearerState>(router: Router<S>, auth: { bearer?: Middleware<S> }) {
  return function mount<B extends Shape, P extends Shape, Q extends Shape>(
    route: RouteDeclaration<B, P, Q>,
    guards: Guards<S>,
    handler: RouteHandler<B, P, Q, S>,
  ): void {
    const chain = [...(guards.before ?? [])];
    if (route.auth === 'bearer') {
      if (auth.bearer === undefined)
        throw new Error(`${route.path}: a bearer route mounted without bearer()`);
      chain.push(auth.bearer);
    }
    chain.push(...(guards.after ?? []));
    const { body, params, query } = route;
    const handle: Middleware<S> = async (ctx) => {
      const routed = ctx as RouterContext<S>;
      await handler(routed, {
        params: (params === undefined ? undefined : validated(params, routed.params)) as Parsed<P>,
        query: (query === undefined ? undefined : validated(query, ctx.query)) as Parsed<Q>,
        body: (body === undefined ? undefined : readBody(ctx, body)) as Parsed<B>,
      });
    };
    // The handler's name, for stacks and profiles.
    Object.defineProperty(handle, 'name', { value: handler.name });
    router.register(routerPath(route.path), [route.method.toUpperCase()], [...chain, handle]);
  };
}

/** `/auth/qr/{ticket}/scan` → `/auth/qr/:ticket/scan`. */
export function routerPath(path: string): string {
  return path.replace(/\{([^}]+)\}/g, ':$1');
}

/** The `paths` of an OpenAPI document, from declarations. */
export function pathsOf(routes: readonly RouteDeclaration[]): Record<string, Record<string, object>> {
  const paths: Record<string, Record<string, object>> = {};
  for (const route of routes) {
    const operations = paths[route.path] ?? {};
    paths[route.path] = operations;
    if (route.method in operations) throw new Error(`${route.method} ${route.path} is declared twice`);
    operations[route.method] = operationOf(route);
  }
  return paths;
}

/** The OpenAPI operation of a declared route. */
export function operationOf(route: RouteDeclaration): object {
  const parameters = [...parametersOf(route.params, 'path'), ...parametersOf(route.query, 'query')];
  return {
    summary: route.summary,
    ...(route.description === undefined ? {} : { description: route.description }),
    ...(route.auth === 'bearer' ? { security: [{ bearer: [] }] } : {}),
    ...(route.auth === 'admin' ? { security: [{ adminKey: [] }] } : {}),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(route.body === undefined ? {} : { requestBody: requestBodyOf(route.body, route.form ?? true) }),
    responses: route.responses,
  };
}

/** JSON Schema (2020-12, OpenAPI 3.1's dialect) of what a request may send. */
export function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  // 'input': what a client sends (before defaults and transforms); `any` for what JSON Schema cannot say.
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    io: 'input',
    target: 'draft-2020-12',
    unrepresentable: 'any',
    // Zod drops a transforming schema's examples in input mode, taking them for outputs; ours are
    // requests (the poll's `wait` is read from text, which makes its whole body transforming).
    override: ({ zodSchema, jsonSchema }) => {
      const examples = z.globalRegistry.get(zodSchema)?.examples;
      if (examples !== undefined) jsonSchema.examples = examples as unknown[];
    },
  });
  return rest;
}

/**
 * JSON Schema (2020-12) of what the service answers, for the document only: nothing parses an answer.
 * Read as 'input' so that an object stays open (no `additionalProperties: false`): a client ignores the
 * fields it does not know, and later versions add some. Zod's `int()` bounds an integer to the safe
 * range; every integer we answer is, so the bounds say nothing and are left out.
 */
export function answerSchemaOf(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    io: 'input',
    target: 'draft-2020-12',
    override: ({ jsonSchema }) => {
      if (
        jsonSchema.type === 'integer' &&
        jsonSchema.minimum === Number.MIN_SAFE_INTEGER &&
        jsonSchema.maximum === Number.MAX_SAFE_INTEGER
      ) {
        delete jsonSchema.minimum;
        delete jsonSchema.maximum;
      }
      // An object of no declared fields (a JWK, the decrypted open data): its empty `properties` says nothing.
      const { properties } = jsonSchema;
      if (properties !== undefined && Object.keys(properties).length === 0) delete jsonSchema.properties;
    },
  });
  return rest;
}

function requestBodyOf(body: z.ZodType, form: boolean): object {
  const schema = jsonSchemaOf(body);
  return {
    required: true,
    content: {
      'application/json': { schema },
      ...(form ? { 'application/x-www-form-urlencoded': { schema } } : {}),
    },
  };
}

function parametersOf(shape: z.ZodType | undefined, where: 'path' | 'query'): object[] {
  if (shape === undefined) return [];
  const schema = jsonSchemaOf(shape) as { properties?: Record<string, object>; required?: string[] };
  return Object.entries(schema.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property as { description?: string };
    return {
      name,
      in: where,
      required: where === 'path' || (schema.required ?? []).includes(name),
      ...(description === undefined ? {} : { description }),
      schema: rest,
    };
  });
}
