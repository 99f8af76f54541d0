import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { sequentialIds } from '../../lib/index.js';
import type { Metrics } from '../../metrics/index.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

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
 * and one log line when it ends. Only method, route path, status and duration are logged: never a
 * body, a query string or a header value.
 */
export function requestContext(logger: Logger, metrics: Metrics): Middleware {
  const newRequestId = sequentialIds();
  // The request line holds only values this code picks (no body, header value or query string), so it
  // is written without redaction, which cost more than the rest of the line; every other line is
  // still redacted.
  const requestLines = logger.child({}, { redact: { paths: [] } });
  return async function tagAndLogRequest(ctx, next) {
    const given = ctx.req.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : newRequestId();
    ctx.set('X-Request-Id', id);
    ctx.state = new ContextState(logger, id);
    const started = performance.now();
    try {
      await next();
    } finally {
      const seconds = (performance.now() - started) / 1000;
      // The router's pattern, never the raw path: label values must stay few.
      const route = (ctx as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      const { method, status, path } = ctx;
      metrics.observeRequest(route, method, status, seconds);
      requestLines.info(
        {
          req_id: id,
          method,
          path: path.length > 200 ? `${path.slice(0, 200)}…` : path,
          status,
          ms: Math.round(seconds * 10000) / 10,
        },
        'request',
      );
    }
  };
}
