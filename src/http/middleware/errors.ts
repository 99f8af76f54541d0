import type { Context, Middleware } from 'koa';
import type { Logger } from 'pino';
import { AppError, type ErrorBody, InvalidToken, ServerError } from '../../errors/index.js';
import type { Metrics } from '../../metrics/index.js';

/** RFC 6750 §3: what a Bearer route's 401 says about the token. Quotes and backslashes cannot appear. */
function bearerChallenge(error: InvalidToken): string {
  if (error.missing) return 'Bearer realm="wxauth"';
  const description = error.message.replace(/["\\]/g, "'");
  return `Bearer realm="wxauth", error="invalid_token", error_description="${description}"`;
}

/** Koa and its libraries throw http-errors (`status`, `expose`); those become invalid_request. */
function fromHttpError(error: unknown): AppError | undefined {
  const status = (error as { status?: unknown } | null)?.status;
  if (typeof status !== 'number' || status < 400 || status > 499) return undefined;
  const message = (error as { expose?: boolean; message?: string }).expose
    ? (error as Error).message
    : 'Bad request.';
  return new AppError(status, 'invalid_request', message);
}

/**
 * The router's bare 405 (a method the route lacks) or 501 (a method no route has, as scanners send),
 * with Allow: the route's methods, or for a path no route has, those of the service.
 */
function methodRefused(ctx: Context, serviceMethods: readonly string[]): AppError {
  const allow = ctx.response.get('Allow') || serviceMethods.join(', ');
  const description =
    ctx.status === 405
      ? `${ctx.method} is not allowed on ${ctx.path}: it answers ${allow}.`
      : `${ctx.method} is not a method this service implements (it answers ${allow}).`;
  return new AppError(ctx.status, 'invalid_request', description, { headers: { Allow: allow } });
}

/**
 * The only writer of error bodies: `{error, error_description}` (+ `wechat_errcode`). Anything that is
 * not an AppError is a fault of ours: logged with its stack, answered as a generic 500.
 * `methods`: every method some route answers, for the Allow of a 501 on a path no route has.
 */
export function errorResponder(metrics: Metrics, options: { methods?: readonly string[] } = {}): Middleware {
  const serviceMethods = options.methods ?? [];
  return async function respondWithContractErrors(ctx, next) {
    try {
      await next();
      if (ctx.body === undefined) {
        if (ctx.status === 404)
          throw new AppError(404, 'invalid_request', `There is no route ${ctx.method} ${ctx.path}.`);
        if (ctx.status === 405 || ctx.status === 501) throw methodRefused(ctx, serviceMethods);
      }
    } catch (thrown) {
      const log: Logger = ctx.state.log;
      let error = thrown instanceof AppError ? thrown : fromHttpError(thrown);
      if (!error) {
        log.error({ err: thrown }, 'unhandled error');
        error = new ServerError();
      } else if (error.status >= 500 && error.error !== 'invalid_request') {
        // A 5xx of ours or of a dependency; a 501 is the client's doing and logs only its request line.
        log.warn(
          { error: error.error, status: error.status, cause: describeCause(error.cause) },
          error.message,
        );
      }
      if (error.error === 'temporarily_unavailable') metrics.observeStoreError();
      if (error.error === 'rate_limited' && error.wechatErrcode === undefined)
        metrics.observeRateLimited(ctx.state.rateLimit ?? 'unknown');
      ctx.status = error.status;
      ctx.set(error.headers);
      if (error.retryAfter !== undefined) ctx.set('Retry-After', String(error.retryAfter));
      if (error instanceof InvalidToken) ctx.set('WWW-Authenticate', bearerChallenge(error));
      ctx.set('Cache-Control', 'no-store');
      const body: ErrorBody = {
        error: error.error,
        error_description: error.expose ? error.message : 'The service failed to handle the request.',
        ...(error.wechatErrcode === undefined ? {} : { wechat_errcode: error.wechatErrcode }),
      };
      ctx.body = body;
    }
  };
}

function describeCause(cause: unknown): string | undefined {
  return cause instanceof Error ? `${cause.name}: ${cause.message}` : undefined;
}
