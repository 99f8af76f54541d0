import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import type { RequestLog } from '../request-log.js';

/**
 * Each request's ctx.state. Its `log` (a child logger carrying the request id) is made when first read:
 * most requests log nothing but their request line. A getter of the class rather than one defined on
 * each request's state, which cost more than the rest of this middleware.
 */
class ContextState {
  readonly #logger: Logger;
  readonly #id: string;
  #log: Logger | undefined;

  constructor(logger: Logger, id: string) {
    this.#logger = logger;
    this.#id = id;
  }

  get log(): Logger {
    this.#log ??= this.#logger.child({ req_id: this.#id });
    return this.#log;
  }
}

/**
 * Gives each request an id (the caller's X-Request-Id when it is sane), a child logger carrying it,
 * and one log line when it ends (request-log.ts).
 */
export function requestContext(logger: Logger, requests: RequestLog): Middleware {
  return async function tagAndLogRequest(ctx, next) {
    const id = requests.idOf(ctx.req.headers['x-request-id']);
    ctx.set('X-Request-Id', id);
    ctx.state = new ContextState(logger, id);
    const started = performance.now();
    try {
      await next();
    } finally {
      // The router's pattern, never the raw path: label values must stay few.
      const route = (ctx as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      requests.answered(id, route, ctx.method, ctx.path, ctx.status, started);
    }
  };
}
