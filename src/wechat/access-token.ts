import type { Logger } from 'pino';
import { type Clock, randomId } from '../lib/index.js';
import type { Locks, WechatTokenCache } from '../store/index.js';
import { WechatError } from './transport.js';

/** What the manager needs of the store: the shared token and a lock. */
export type AccessTokenStore = WechatTokenCache & Locks;

/** An access_token as cgi-bin/stable_token answers it. */
export interface IssuedWechatToken {
  token: string;
  expiresInS: number;
}

export interface AccessTokenManagerOptions {
  store: AccessTokenStore;
  clock: Clock;
  logger: Logger;
  /**
   * Calls cgi-bin/stable_token; `forceRefresh` ends WeChat's current token at once (limited per day).
   * `deadline` (performance.now() time) is the operation's, for the call to WeChat.
   */
  issue(forceRefresh: boolean, deadline: number): Promise<IssuedWechatToken>;
  /** WeChat's timeout for one operation, ms: the default deadline, and what the lock's life allows for. */
  timeoutMs: number;
  /**
   * The app whose token this is, in the store: undefined for the first mini-program, whose token keeps
   * the key and lock it had before several apps (instances of the previous version share them).
   */
  scope?: string;
  /** How often a waiting instance looks for the token another instance fetches, ms. Default 50. */
  pollIntervalMs?: number;
}

/**
 * `deadline` (performance.now() time, default timeoutMs from now) is the operation's: lock waits take
 * at most half of what is left, and the fetches and the retry get only what is left (then 504).
 */
export interface AccessTokenManager {
  /** A token the cache holds, or one fetched now (one fetch across every instance). */
  current(deadline?: number): Promise<string>;
  /**
   * Runs `call` with a token. When WeChat rejects the token (40001, 42001, 40014), drops it from the
   * cache (only if it is still the cached one) and runs `call` once more with a fresh token; a second
   * rejection is thrown as it came.
   */
  withAccessToken<T>(call: (token: string) => Promise<T>, deadline?: number): Promise<T>;
}

/** WeChat's "this access_token is not (or no longer) good": invalid or not latest, expired, unknown. */
export const REJECTED_TOKEN_ERRCODES: ReadonlySet<number> = new Set([40001, 42001, 40014]);

/**
 * WeChat issues a new stable token in the last 5 minutes of the old one (which lives on to its expiry),
 * so a token is cached until 4 minutes before its expiry: the fetch then lands inside that window and
 * gets the new token, and a call made with the old one just before still has minutes to complete.
 */
const RENEW_BEFORE_EXPIRY_MS = 4 * 60_000;
const LOCK_NAME = 'wechat-access-token';

/**
 * The app's WeChat access_token, shared by every instance through the store. When it must be fetched,
 * one instance fetches (it holds a lock in the store) and the others wait for its result instead of
 * fetching their own; within one process, concurrent callers share one fetch (single flight).
 */
export function createAccessTokenManager(options: AccessTokenManagerOptions): AccessTokenManager {
  const { store, clock, logger, issue, timeoutMs, scope } = options;
  const lockName = scope === undefined ? LOCK_NAME : `${LOCK_NAME}:${scope}`;
  const pollIntervalMs = options.pollIntervalMs ?? 50;
  // A holder's fetches end by its deadline (timeoutMs); twice that leaves room for its store calls.
  const lockTtlMs = 2 * timeoutMs + 3000;
  /** In-flight renewals of this process, by the token they replace ('' for none). */
  const flights = new Map<string, Promise<string>>();

  async function current(deadline = performance.now() + timeoutMs): Promise<string> {
    const flight = flights.get('');
    if (flight) return flight;
    const cached = await store.getWechatAccessToken(clock.now(), scope);
    return cached ? cached.token : renew(undefined, deadline);
  }

  /**
   * One renewal per process at a time for the same rejected token (or for none). Callers joining a
   * flight started before them get its result by its deadline, which comes before theirs.
   */
  function renew(rejected: string | undefined, deadline: number): Promise<string> {
    const key = rejected ?? '';
    let flight = flights.get(key);
    if (!flight) {
      flight = renewAcrossInstances(rejected, deadline).finally(() => flights.delete(key));
      flights.set(key, flight);
    }
    return flight;
  }

  /**
   * The lock's holder fetches; the others poll the store for its result, retrying the lock meanwhile,
   * for half their time: then they fetch themselves with the other half, so that a holder that died
   * with the lock costs a slower answer, not a 504.
   */
  async function renewAcrossInstances(rejected: string | undefined, deadline: number): Promise<string> {
    const owner = randomId(12);
    const started = performance.now();
    const waitUntil = started + (deadline - started) / 2;
    for (;;) {
      if (await store.acquireLock(lockName, owner, lockTtlMs)) {
        try {
          return await fetchUnlessCached(rejected, deadline);
        } finally {
          await store.releaseLock(lockName, owner).catch((error: unknown) => {
            logger.warn(
              { event: 'access_token_lock_release_failed', reason: (error as Error).message },
              'could not release the access_token lock; it ends by itself',
            );
          });
        }
      }
      const left = waitUntil - performance.now();
      if (left <= 0) break;
      await sleep(Math.min(pollIntervalMs, left));
      const cached = await store.getWechatAccessToken(clock.now(), scope);
      if (cached && cached.token !== rejected) return cached.token;
    }
    logger.warn(
      { event: 'access_token_wait_timeout', waited_ms: Math.round(performance.now() - started) },
      'no other instance delivered a WeChat access_token in time: fetching one here',
    );
    return fetchUnlessCached(rejected, deadline);
  }

  async function fetchUnlessCached(rejected: string | undefined, deadline: number): Promise<string> {
    const cached = await store.getWechatAccessToken(clock.now(), scope);
    if (cached && cached.token !== rejected) return cached.token;
    let issued = await issue(false, deadline);
    if (rejected !== undefined && issued.token === rejected) {
      // WeChat still hands out the token it just refused: only force_refresh replaces it.
      logger.warn(
        { event: 'access_token_force_refresh' },
        'WeChat rejected its current access_token: asking for a new one with force_refresh',
      );
      issued = await issue(true, deadline);
    }
    const nowMs = clock.now();
    await store.putWechatAccessToken(issued.token, nowMs + cacheLifeMs(issued.expiresInS), nowMs, scope);
    logger.info(
      { event: 'access_token_fetched', expires_in: issued.expiresInS },
      'fetched a WeChat access_token for every instance',
    );
    return issued.token;
  }

  async function withAccessToken<T>(
    call: (token: string) => Promise<T>,
    deadline = performance.now() + timeoutMs,
  ): Promise<T> {
    const token = await current(deadline);
    try {
      return await call(token);
    } catch (error) {
      if (!(error instanceof WechatError && REJECTED_TOKEN_ERRCODES.has(error.errcode))) throw error;
      logger.warn(
        { event: 'access_token_rejected', api: error.api, errcode: error.errcode },
        'WeChat rejected the cached access_token: renewing it and retrying once',
      );
      await store.invalidateWechatAccessToken(token, scope);
      return call(await renew(token, deadline));
    }
  }

  return { current, withAccessToken };
}

/**
 * How long to cache a token WeChat says lives `expiresInS` more seconds: until RENEW_BEFORE_EXPIRY_MS
 * before its end, or half its life when it is shorter than that allows (so an old token answered again
 * is asked for again soon, but not on every call).
 */
export function cacheLifeMs(expiresInS: number): number {
  const lifeMs = expiresInS * 1000;
  return lifeMs >= 2 * RENEW_BEFORE_EXPIRY_MS ? lifeMs - RENEW_BEFORE_EXPIRY_MS : Math.floor(lifeMs / 2);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
