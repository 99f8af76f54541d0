import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { sequentialIds } from '../../lib/index.js';
import type { Metrics } from '../../metrics/index.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

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
    const given = ctx.get('X-Request-Id');
    const id = REQUEST_ID.test(given) ? given : newRequestId();
    ctx.set('X-Request-Id', id);
    // Made when something logs (an error, mostly): most requests log nothing but their request line.
    let log: Logger | undefined;
    Object.defineProperty(ctx.state, 'log', {
      get: () => (log ??= logger.child({ req_id: id })),
      enumerable: true,
    });
    const started = performance.now();
    try {
      await next();
    } finally {
      const seconds = (performance.now() - started) / 1000;
      // The router's pattern, never the raw path: label values must stay few.
      const route = (ctx as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      metrics.observeRequest(route, ctx.method, ctx.status, seconds);
      requestLines.info(
        {
          req_id: id,
          method: ctx.method,
          path: ctx.path.length > 200 ? `${ctx.path.slice(0, 200)}…` : ctx.path,
          status: ctx.status,
          ms: Math.round(seconds * 10000) / 10,
        },
        'request',
      );
    }
  };
}
