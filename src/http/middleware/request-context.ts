import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { randomId } from '../../lib/index.js';
import type { Metrics } from '../../metrics/index.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Gives each request an id (the caller's X-Request-Id when it is sane), a child logger carrying it,
 * and one log line when it ends. Only method, route path, status and duration are logged: never a
 * body, a query string or a header value.
 */
export function requestContext(logger: Logger, metrics: Metrics): Middleware {
  return async function tagAndLogRequest(ctx, next) {
    const given = ctx.get('X-Request-Id');
    const id = REQUEST_ID.test(given) ? given : randomId(12);
    ctx.set('X-Request-Id', id);
    const log = logger.child({ req_id: id });
    ctx.state.log = log;
    const started = performance.now();
    try {
      await next();
    } finally {
      const seconds = (performance.now() - started) / 1000;
      // The router's pattern, never the raw path: label values must stay few.
      const route = (ctx as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      metrics.observeRequest(route, ctx.method, ctx.status, seconds);
      log.info(
        {
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
