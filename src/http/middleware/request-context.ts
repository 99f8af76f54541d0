import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { randomId } from '../../lib/index.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Gives each request an id (the caller's X-Request-Id when it is sane), a child logger carrying it,
 * and one log line when it ends. Only method, route path, status and duration are logged: never a
 * body, a query string or a header value.
 */
export function requestContext(logger: Logger): Middleware {
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
      log.info(
        {
          method: ctx.method,
          path: ctx.path.length > 200 ? `${ctx.path.slice(0, 200)}…` : ctx.path,
          status: ctx.status,
          ms: Math.round((performance.now() - started) * 10) / 10,
        },
        'request',
      );
    }
  };
}
