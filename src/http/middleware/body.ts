import { bodyParser } from '@koa/bodyparser';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import { InvalidRequest, PayloadTooLarge } from '../../errors/index.js';

/**
 * Reads JSON or form-encoded bodies up to `limitBytes`. Parse failures become the contract's errors
 * instead of Koa's plain-text ones.
 */
export function bodyReader(limitBytes: number): Middleware {
  const parse = bodyParser({
    enableTypes: ['json', 'form'],
    jsonLimit: limitBytes,
    formLimit: limitBytes,
    onError(error) {
      const status = (error as { status?: number }).status;
      if (status === 413) throw new PayloadTooLarge(limitBytes);
      if (status === 415) throw new InvalidRequest('The body must be UTF-8.');
      throw new InvalidRequest('The body is not valid JSON (or not a JSON object).');
    },
  });
  // No route reads a GET's body; parsing none still cost every GET (the Bearer-only ones included).
  return function readRequestBody(ctx, next) {
    return ctx.method === 'GET' || ctx.method === 'HEAD' ? next() : parse(ctx, next);
  };
}

/**
 * The validated body of a request. A body of another content type, or none where fields are required,
 * is `invalid_request` naming what is wrong.
 */
export function readBody<S extends z.ZodType>(ctx: Context, schema: S): z.infer<S> {
  const type = ctx.request.type;
  const hasBody = ctx.request.length > 0 || ctx.get('Transfer-Encoding') !== '';
  if (hasBody && type !== 'application/json' && type !== 'application/x-www-form-urlencoded') {
    throw new InvalidRequest(
      `Content-Type must be application/json or application/x-www-form-urlencoded (this body has ${type ? type : 'none'}).`,
    );
  }
  // curl -d sends JSON as a form; parsed as one, it would lack every field.
  const raw = (ctx.request as { rawBody?: unknown }).rawBody;
  if (type === 'application/x-www-form-urlencoded' && typeof raw === 'string' && /^\s*[{[]/.test(raw)) {
    throw new InvalidRequest(
      'The body is JSON but its Content-Type says form-encoded (curl -d does that): send Content-Type: application/json.',
    );
  }
  const body: unknown = ctx.request.body ?? {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidRequest('The body must be a JSON object.');
  }
  return validated(schema, body);
}

/** `value` as `schema` takes it, or `invalid_request` naming the first field at fault (`body` for the whole). */
export function validated<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.length ? issue.path.join('.') : 'body';
    throw new InvalidRequest(`${field}: ${issue?.message ?? 'invalid'}.`);
  }
  return parsed.data;
}

/** A string field: `required, <what>` when absent, `must be a string, <what>` when of another type. */
export function stringField(what: string): z.ZodString {
  return z.string({
    error: (issue) => (issue.input === undefined ? `required, ${what}` : `must be a string, ${what}`),
  });
}
