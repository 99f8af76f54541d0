import type { Cluster, Redis } from 'ioredis';
import type { Context, Middleware } from 'koa';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { RateLimit } from '../../config/index.js';
import { RateLimited } from '../../errors/index.js';

/** Where counters live: Redis, shared by every instance, or this process (the embedded mode). */
export type RateLimitBackend = { redis: Redis | Cluster; prefix: string } | undefined;

/**
 * One limit, e.g. 30 logins a minute per client address. `keyOf` answers the counted key, or undefined
 * to let the request through uncounted (no openid to count by). Counters in Redis fall back to memory
 * while Redis is unreachable, so an outage never turns a limit into an error.
 */
export function rateLimit(
  name: string,
  limit: RateLimit,
  backend: RateLimitBackend,
  keyOf: (ctx: Context) => string | undefined,
): Middleware {
  if (!limit)
    return async function noLimit(_ctx, next) {
      await next();
    };
  const options = { points: limit.points, duration: limit.seconds };
  const limiter = backend
    ? new RateLimiterRedis({
        ...options,
        storeClient: backend.redis,
        keyPrefix: `${backend.prefix}rl:${name}`,
        rejectIfRedisNotReady: true,
        insuranceLimiter: new RateLimiterMemory(options),
      })
    : new RateLimiterMemory({ ...options, keyPrefix: name });

  return async function enforceRateLimit(ctx, next) {
    const key = keyOf(ctx);
    if (key === undefined) return next();
    let result: RateLimiterRes;
    try {
      result = await limiter.consume(key);
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      const retryAfter = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
      ctx.state.rateLimit = name;
      throw new RateLimited(`Too many requests (${name}): retry after ${retryAfter} seconds.`, {
        retryAfter,
        headers: headers(limit, 0, retryAfter),
      });
    }
    ctx.set(headers(limit, result.remainingPoints, Math.ceil(result.msBeforeNext / 1000)));
    await next();
  };
}

/** draft-ietf-httpapi-ratelimit-headers, in the widely deployed three-header form. */
function headers(limit: { points: number; seconds: number }, remaining: number, resetS: number) {
  return {
    'RateLimit-Limit': String(limit.points),
    'RateLimit-Remaining': String(Math.max(0, remaining)),
    'RateLimit-Reset': String(Math.max(0, resetS)),
    'RateLimit-Policy': `${limit.points};w=${limit.seconds}`,
  };
}

/** The client's address as Koa sees it (X-Forwarded-For only when TRUST_PROXY), v4-mapped v6 folded. */
export function clientAddress(ctx: Context): string {
  return ctx.ip.replace(/^::ffff:/, '');
}
