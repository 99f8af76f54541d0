import type { Cluster, Redis } from 'ioredis';
import type { Context, Middleware, Next } from 'koa';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { RateLimit } from '../../config/index.js';
import { RateLimited, TemporarilyUnavailable } from '../../errors/index.js';

/**
 * Where counters live: Redis, shared by every instance, or this process (the embedded mode). `guard`
 * says when the connection is stalled, so that limits count in memory at once instead of waiting.
 */
export type RateLimitBackend =
  | {
      redis: Redis | Cluster;
      prefix: string;
      guard: { readonly stalled: boolean; noteError(error: unknown): void };
    }
  | undefined;

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
  if (!limit) return passThrough;
  const limiter = limiterFor(name, limit, backend);
  return async function enforceRateLimit(ctx, next) {
    const key = keyOf(ctx);
    if (key === undefined) return next();
    let result: RateLimiterRes;
    try {
      result = await limiter.consume(key);
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      throw refusal(ctx, name, limit, rejection.msBeforeNext);
    }
    ctx.set(headers(limit, result.remainingPoints, Math.ceil(result.msBeforeNext / 1000)));
    await next();
  };
}

/**
 * A limit on what only the handler can prove, e.g. refreshes of one user: the key a request claims
 * (the openid inside a refresh token) is anybody's to write, so counting claims would let anyone use
 * up a victim's allowance. `check` only looks at the counter and refuses once it is spent; the handler
 * calls `record` with the key it confirmed, after the work is done.
 */
export interface ConfirmedRateLimit {
  check: Middleware;
  /** Counts one use and sets the headers; never refuses for the limit (the work is done, its answer must go out). */
  record(ctx: Context, key: string): Promise<void>;
}

export function confirmedRateLimit(
  name: string,
  limit: RateLimit,
  backend: RateLimitBackend,
  keyOf: (ctx: Context) => string | undefined,
): ConfirmedRateLimit {
  if (!limit) return { check: passThrough, record: async () => {} };
  const limiter = limiterFor(name, limit, backend);
  return {
    async check(ctx, next) {
      const key = keyOf(ctx);
      if (key === undefined) return next();
      // One round trip (GET and PTTL); while Redis is down, the memory counters answer instead.
      const used = await limiter.get(key);
      if (used !== null && used.consumedPoints >= limit.points) {
        throw refusal(ctx, name, limit, used.msBeforeNext);
      }
      await next();
    },
    async record(ctx, key) {
      // Concurrent requests may all pass check() and take the count past the limit: the next is refused.
      const result = await limiter.consume(key).catch((over: unknown) => {
        if (over instanceof RateLimiterRes) return over;
        throw over;
      });
      ctx.set(headers(limit, result.remainingPoints, Math.ceil(result.msBeforeNext / 1000)));
    },
  };
}

/**
 * A limit on failures only, e.g. wrong admin keys per address: what succeeds is neither counted nor
 * refused, so a flood of failures from an address never locks out the right key sent from it.
 */
export interface FailureRateLimit {
  /** Counts one failure of `key`; throws 429 rate_limited once they are over the limit. */
  failed(ctx: Context, key: string): Promise<void>;
}

export function failureRateLimit(
  name: string,
  limit: RateLimit,
  backend: RateLimitBackend,
): FailureRateLimit {
  if (!limit) return { failed: async () => {} };
  const limiter = limiterFor(name, limit, backend);
  return {
    async failed(ctx, key) {
      try {
        await limiter.consume(key);
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        throw refusal(ctx, name, limit, rejection.msBeforeNext);
      }
    },
  };
}

/** The limits that count per openid (app.ts names them so): what forgetUserCounters deletes. */
export const PER_USER_LIMITS = ['refresh_user', 'wechat_user'] as const;

/**
 * Deletes an openid's counters of the per-user limits in Redis, for an account deletion: one key per
 * command, since a Cluster spreads them. Counters in this process's memory (the embedded mode, or
 * counted while Redis was down) are not reached; they run out within their window.
 */
export async function forgetUserCounters(backend: RateLimitBackend, openid: string): Promise<void> {
  if (!backend) return;
  const { redis, prefix, guard } = backend;
  if (guard.stalled) throw new TemporarilyUnavailable('The session store does not answer; retry shortly.');
  try {
    await Promise.all(PER_USER_LIMITS.map((name) => redis.del(`${prefix}rl:${name}:${openid}`)));
  } catch (error) {
    guard.noteError(error);
    throw new TemporarilyUnavailable('The session store is unreachable; retry shortly.', {
      cause: new Error((error as Error).message),
    });
  }
}

async function passThrough(_ctx: Context, next: Next): Promise<void> {
  await next();
}

/** What a limit asks of its counters. */
interface Counters {
  consume(key: string): Promise<RateLimiterRes>;
  get(key: string): Promise<RateLimiterRes | null>;
}

/**
 * Counters in Redis, shared by every instance; while Redis is down or stalled, this process's memory
 * answers instead, so an outage never turns a limit into an error (nor a stall into a wait per limit).
 */
function limiterFor(name: string, limit: NonNullable<RateLimit>, backend: RateLimitBackend): Counters {
  const options = { points: limit.points, duration: limit.seconds };
  const memory = new RateLimiterMemory({ ...options, keyPrefix: name });
  if (!backend) return memory;
  const shared = new RateLimiterRedis({
    ...options,
    storeClient: backend.redis,
    keyPrefix: `${backend.prefix}rl:${name}`,
    rejectIfRedisNotReady: true,
  });
  const { guard } = backend;
  async function counted<T>(use: (counters: Counters) => Promise<T>): Promise<T> {
    if (guard.stalled) return use(memory);
    try {
      return await use(shared);
    } catch (error) {
      if (error instanceof RateLimiterRes) throw error;
      guard.noteError(error);
      return use(memory);
    }
  }
  return { consume: (key) => counted((c) => c.consume(key)), get: (key) => counted((c) => c.get(key)) };
}

function refusal(ctx: Context, name: string, limit: NonNullable<RateLimit>, msBeforeNext: number) {
  const retryAfter = Math.max(1, Math.ceil(msBeforeNext / 1000));
  ctx.state.rateLimit = name;
  return new RateLimited(`Too many requests (${name}): retry after ${retryAfter} seconds.`, {
    retryAfter,
    headers: headers(limit, 0, retryAfter),
  });
}

/** draft-ietf-httpapi-ratelimit-headers, in the widely deployed three-header form. */
function headers(limit: NonNullable<RateLimit>, remaining: number, resetS: number) {
  return {
    'RateLimit-Limit': String(limit.points),
    'RateLimit-Remaining': String(Math.max(0, remaining)),
    'RateLimit-Reset': String(Math.max(0, resetS)),
    'RateLimit-Policy': `${limit.points};w=${limit.seconds}`,
  };
}
