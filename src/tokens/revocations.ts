import type { Logger } from 'pino';
import type { Clock } from '../lib/index.js';
import type { RevocationFeedState, UserSessions } from '../store/index.js';

/**
 * This instance's memory of ended sessions, which access-token verification consults after the
 * signature (or the verified-token cache): a Map lookup, no store round trip. The store tells it of
 * every ending, here or on another instance (SessionStore.watchRevocations).
 */
export interface Revocations {
  /** Whether the tokens of session `sid` are refused. A token without sid (issued before sid) is not. */
  revoked(sid: string | undefined): boolean;
  /**
   * False until the first catch-up is done and while a later one runs: the memory may lack endings.
   * A plain field, read on every request.
   */
  readonly current: boolean;
  /**
   * Whether this instance has read the store's record of recent endings once. Until it has, its memory
   * knows nothing of sessions ended before it started, and no token may be taken for valid.
   */
  readonly ready: boolean;
  /** While a catch-up runs, settles when it is done (or after SETTLE_MAX_MS); else undefined. */
  settling(): Promise<void> | undefined;
}

export interface RevocationOptions {
  store: Pick<UserSessions, 'watchRevocations'>;
  /** The clock tokens expire by: a revocation is forgotten once every token it refuses has expired. */
  clock: Clock;
  logger: Logger;
  /** How long a token of a revoked session may still be presented: ACCESS_TOKEN_TTL plus tolerance, ms. */
  windowMs: number;
  /** How long the feed was blind, each time it caught up again, seconds. */
  onBlind?: (seconds: number) => void;
  /** A catch-up failed to read the store's record of recent endings (it is tried again). */
  onCatchUpFailure?: () => void;
}

/**
 * A catch-up reads the revocation log a page at a time, as long as the log takes; a request does not
 * wait longer than this for it whatever happens (then, before the first catch-up, it gets a 503).
 */
const SETTLE_MAX_MS = 1000;
const SWEEP_INTERVAL_MS = 60_000;

/**
 * Until the feed has been live once (the log read: started while the store is unreachable, or still
 * reading a large log), the memory is empty, not current: tokens are not answered from it (ready is
 * false, and verification answers 503), since any of them may belong to a session that ended before
 * this instance started.
 *
 * Once it has been, while the feed is blind (the store unreachable), tokens are checked against what is
 * remembered: refusing every token then would turn a Redis outage into a logout of everyone, and while
 * the store is down no session can end anywhere (every ending needs it). What an instance cut off alone
 * may miss it reads from the log once it reconnects, and until it has, requests wait for that read
 * rather than be answered from a memory that may lack it.
 */
export function createRevocations(options: RevocationOptions): Revocations {
  const { clock, logger, windowMs } = options;
  /** sid → when (by `clock`) every token of that session has expired. */
  const refused = new Map<string, number>();
  let state: RevocationFeedState = 'blind';
  let wasLive = false;
  /** Whether the current streak of failed catch-up reads was told to the log already. */
  let failureTold = false;
  let blindSince: number | undefined = performance.now();
  let settle: { promise: Promise<void>; resolve: () => void } | undefined;
  let sweeper: NodeJS.Timeout | undefined;
  const revocations = {
    revoked: (sid: string | undefined) => sid !== undefined && refused.has(sid),
    current: false,
    ready: false,
    settling: () => (state === 'catching_up' ? settle?.promise : undefined),
  };

  function readFailed(reason: string): void {
    options.onCatchUpFailure?.();
    if (failureTold) return;
    failureTold = true;
    logger.warn(
      { event: 'revocation_catch_up_failed', reason },
      wasLive
        ? 'revocations: cannot read the log of ended sessions; those ended elsewhere meanwhile are not refused here until it is read (trying again)'
        : 'revocations: cannot read the log of ended sessions; Bearer routes answer 503 here until it is read (trying again)',
    );
  }

  function sweep(): void {
    const now = clock.now();
    for (const [sid, until] of refused) if (until <= now) refused.delete(sid);
    if (refused.size === 0) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  }

  function settled(): void {
    settle?.resolve();
    settle = undefined;
  }

  options.store.watchRevocations(
    {
      revoked(sids) {
        const until = clock.now() + windowMs;
        for (const sid of sids) refused.set(sid, until);
        if (sweeper === undefined && refused.size > 0) {
          sweeper = setInterval(sweep, SWEEP_INTERVAL_MS);
          sweeper.unref();
        }
      },
      state(next, details) {
        if (details?.failure !== undefined) readFailed(details.failure);
        if (next === 'catching_up' && settle === undefined) {
          let resolve = () => {};
          const promise = new Promise<void>((done) => {
            resolve = done;
          });
          const mine = { promise, resolve };
          settle = mine;
          setTimeout(() => settle === mine && settled(), SETTLE_MAX_MS).unref();
        }
        if (next === 'blind' && state !== 'blind') {
          if (state === 'live') {
            blindSince = performance.now();
            logger.warn(
              { event: 'revocation_feed_lost' },
              'revocations: lost the store; sessions ended elsewhere are not refused here until it is back',
            );
          }
          settled();
        }
        if (next === 'live') {
          settled();
          if (blindSince !== undefined) {
            const ms = Math.round(performance.now() - blindSince);
            const line = { event: 'revocation_blind', ms, caught_up: details?.caughtUp ?? 0 };
            if (wasLive) logger.warn(line, `revocations: caught up after ${ms} ms without the store`);
            else logger.info(line, 'revocations: caught up with the store');
            options.onBlind?.(ms / 1000);
            blindSince = undefined;
          }
          wasLive = true;
          failureTold = false;
        }
        state = next;
        revocations.ready = wasLive;
        revocations.current = wasLive && state !== 'catching_up';
      },
    },
    { windowMs },
  );

  return revocations;
}
