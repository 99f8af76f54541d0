import { InvalidTokenError, JwksUnavailableError, VerifierError } from './errors.js';
import type { VerifiedToken, Verifier } from './verifier.js';

/*
 * Middleware for Koa, Express and Fastify, typed by the shapes they use (none of them is imported): a
 * request without a valid token is answered as wxauth answers it, RFC 6750's 401 with
 * WWW-Authenticate and {"error": "invalid_token", "error_description"}; a verified one gets its openid.
 */

export interface MiddlewareOptions {
  /** The realm of the WWW-Authenticate challenge; default "wxauth". */
  realm?: string;
}

export type Headers = Record<string, string | string[] | undefined>;

/** RFC 6750 §2.1: the scheme is case-insensitive; the token is token68. */
const AUTHORIZATION = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;

/** The token of an Authorization header; InvalidTokenError (missing: true when there is none) otherwise. */
export function bearerToken(header: string | string[] | undefined): string {
  if (typeof header !== 'string' || !/^bearer(\s|$)/i.test(header))
    throw new InvalidTokenError('Send the access token as Authorization: Bearer <token>.', { missing: true });
  const match = AUTHORIZATION.exec(header);
  if (!match) throw new InvalidTokenError('The Authorization header is not of the form "Bearer <token>".');
  return match[1]!;
}

/** The subject of the request's Bearer token: recalled (a map lookup) when verified before, else verified. */
export function authenticate(
  verifier: Verifier,
  header: string | string[] | undefined,
): Promise<VerifiedToken> {
  const recalled = recallHeader(verifier, header);
  return recalled ? Promise.resolve(recalled) : verifier.verify(bearerToken(header));
}

/** The common case, "Bearer <a token verified before>", found without parsing the header further. */
function recallHeader(verifier: Verifier, header: string | string[] | undefined): VerifiedToken | undefined {
  return typeof header === 'string' && header.charCodeAt(6) === 32 && /^bearer/i.test(header)
    ? verifier.recall(header.slice(7))
    : undefined;
}

/** The answer to a refused request: status, headers and the JSON body wxauth itself would send. */
export function refusal(
  error: VerifierError,
  options: MiddlewareOptions = {},
): { status: number; headers: Record<string, string>; body: { error: string; error_description: string } } {
  const realm = (options.realm ?? 'wxauth').replace(/["\\]/g, "'");
  const headers: Record<string, string> = { 'Cache-Control': 'no-store' };
  if (error instanceof InvalidTokenError) {
    const description = error.message.replace(/["\\]/g, "'");
    headers['WWW-Authenticate'] = error.missing
      ? `Bearer realm="${realm}"`
      : `Bearer realm="${realm}", error="invalid_token", error_description="${description}"`;
  }
  if (error instanceof JwksUnavailableError) headers['Retry-After'] = String(error.retryAfter);
  return { status: error.status, headers, body: { error: error.code, error_description: error.message } };
}

/** What Koa's ctx offers that the middleware uses. */
export interface KoaContextLike {
  headers: Headers;
  state: Record<string, unknown>;
  status: number;
  body: unknown;
  set(field: string, value: string): void;
}

/**
 * Koa: `router.get('/orders', koaBearer(verifier), …)`; the route reads `ctx.state.openid` (and
 * `ctx.state.wxauth`, the whole result: its `clientId`, `unionid`, `sid`…).
 */
export function koaBearer(verifier: Verifier, options: MiddlewareOptions = {}) {
  return async function verifyBearer(ctx: KoaContextLike, next: () => Promise<unknown>): Promise<void> {
    let auth: VerifiedToken;
    try {
      auth = await authenticate(verifier, ctx.headers.authorization);
    } catch (error) {
      if (!(error instanceof VerifierError)) throw error;
      const answer = refusal(error, options);
      ctx.status = answer.status;
      for (const [name, value] of Object.entries(answer.headers)) ctx.set(name, value);
      ctx.body = answer.body;
      return;
    }
    ctx.state.openid = auth.openid;
    ctx.state.wxauth = auth;
    await next();
  };
}

/** What Express's and Fastify's requests offer, and what the middleware adds. */
export interface RequestLike {
  headers: Headers;
  openid?: string;
  /**
   * The whole result (`clientId`, `unionid`, `sid`…). Not `auth`: express-jwt and
   * express-oauth2-jwt-bearer declare that one.
   */
  wxauth?: VerifiedToken;
}

/** What Node's http.ServerResponse (so Express's res) offers that the middleware uses. */
export interface NodeResponseLike {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(chunk: string): unknown;
}

/** Express (or plain node:http): `app.get('/orders', expressBearer(verifier), …)`; the route reads `req.openid` (and `req.wxauth`). */
export function expressBearer(verifier: Verifier, options: MiddlewareOptions = {}) {
  return function verifyBearer(
    req: RequestLike,
    res: NodeResponseLike,
    next: (error?: unknown) => void,
  ): void {
    const header = req.headers.authorization;
    const pass = (auth: VerifiedToken) => {
      req.openid = auth.openid;
      req.wxauth = auth;
      next();
    };
    const recalled = recallHeader(verifier, header);
    if (recalled) {
      pass(recalled);
      return;
    }
    let pending: Promise<VerifiedToken>;
    try {
      pending = verifier.verify(bearerToken(header));
    } catch (error) {
      pending = Promise.reject(error);
    }
    pending.then(pass, (error: unknown) => {
      if (!(error instanceof VerifierError)) return next(error);
      const answer = refusal(error, options);
      res.statusCode = answer.status;
      for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.end(JSON.stringify(answer.body));
    });
  };
}

/** What Fastify's reply offers that the hook uses. */
export interface FastifyReplyLike {
  code(statusCode: number): unknown;
  header(name: string, value: string): unknown;
  send(payload: unknown): unknown;
}

/**
 * Fastify: `{ onRequest: fastifyBearer(verifier) }` on a route, or `app.addHook('onRequest', …)`; the
 * handler reads `request.openid` (and `request.wxauth`). `app.decorateRequest('openid', '')` and
 * `app.decorateRequest('wxauth', null)` keep the request's shape fixed, as Fastify recommends.
 */
export function fastifyBearer(verifier: Verifier, options: MiddlewareOptions = {}) {
  return async function verifyBearer(request: RequestLike, reply: FastifyReplyLike): Promise<unknown> {
    try {
      const auth = await authenticate(verifier, request.headers.authorization);
      request.openid = auth.openid;
      request.wxauth = auth;
      return undefined;
    } catch (error) {
      if (!(error instanceof VerifierError)) throw error;
      const answer = refusal(error, options);
      reply.code(answer.status);
      for (const [name, value] of Object.entries(answer.headers)) reply.header(name, value);
      // An async hook that answers returns the reply, so that Fastify goes no further.
      return reply.send(answer.body);
    }
  };
}
