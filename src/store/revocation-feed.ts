import type { Cluster, Redis } from 'ioredis';
import { reconnectDelay, Subscription } from './connection.js';
import type { RevocationFeedDetails, RevocationFeedState, RevocationWatcher } from './types.js';

/**
 * The longest a revocation must be remembered until a watcher says how long its access tokens live: the
 * longest ACCESS_TOKEN_TTL allowed, plus the longest clock tolerance.
 */
export const DEFAULT_REVOCATION_WINDOW_MS = (86_400 + 300) * 1000;

/**
 * How far before the last logged revocation it heard of an instance reads the log again when it
 * reconnects. The log's times are Redis's clock; after a failover they come from another host's.
 */
const CATCH_UP_MARGIN_MS = 60_000;

/**
 * Entries a catch-up reads of the revocation log in one command. Each read is a command of its own,
 * within the command timeout whatever the log's size (one read of 200,000 entries takes about 0.6 s;
 * of 5,000, a few ms).
 */
const CATCH_UP_PAGE = 5000;

/**
 * One page of the revocation log: at most `count` entries scored from `min` to `max` (ZRANGEBYSCORE's
 * bounds: a number, `(` before one to exclude it, `-inf`, `+inf`), skipping the first `offset`, oldest
 * first.
 */
export type RevocationLogReader = (
  min: string,
  max: string,
  offset: number,
  count: number,
) => Promise<Array<{ id: string; atMs: number }>>;

/**
 * What RedisStore.watchRevocations runs: one subscriber connection per store, to the revocation channel,
 * and on every (re)connection a catch-up from the revocation log before it says `live`. The connection
 * is its own (a subscribed connection can send nothing else): a duplicate of the store's client for a
 * single Redis or Sentinel (which asks the Sentinels for the master each time), any node of a Cluster
 * (PUBLISH reaches every node). It never reconnects by itself: once it ends, a new one is made, so a
 * Cluster node that is gone for good is left for another.
 */
export class RevocationFeed {
  private readonly watchers: RevocationWatcher[] = [];
  private windowMs = 0;
  /** Connecting for the first time counts as catching up: it has not read the log yet. */
  private current: RevocationFeedState = 'catching_up';
  private readonly subscription: Subscription;
  /** The latest log time read or, while live, heard of (Redis's clock): where a catch-up starts. */
  private lastLoggedMs: number | undefined;
  private closed = false;

  constructor(
    redis: Redis | Cluster,
    channel: string,
    private readonly readLog: RevocationLogReader,
  ) {
    this.subscription = new Subscription(redis, channel, 'wxauth:revocations', {
      message: (text) => this.heard(text),
      subscribed: (subscriber, current) => void this.catchUp(subscriber, current, false),
      lost: () => this.setState('blind'),
      // Counted and warned as a failed read: until it subscribes, the log is not read either.
      failed: (reason) => this.setState('blind', { failure: reason }),
    });
  }

  /** How long the log keeps an entry: what the watchers asked for. */
  get retentionMs(): number {
    return this.windowMs > 0 ? this.windowMs : DEFAULT_REVOCATION_WINDOW_MS;
  }

  watch(watcher: RevocationWatcher, windowMs: number): void {
    this.watchers.push(watcher);
    this.windowMs = Math.max(this.windowMs, windowMs);
    watcher.state(this.current);
    const subscriber = this.subscription.connection;
    if (subscriber === undefined) this.subscription.start();
    else if (subscriber.status === 'ready' && this.current === 'live') {
      // A late watcher was told nothing of the past: read all of the log again.
      void this.catchUp(subscriber, () => this.subscription.connection === subscriber, true);
    }
  }

  /** Endings this process made: its watchers hear of them before the ending call returns. */
  notify(ids: readonly string[]): void {
    if (ids.length > 0) for (const watcher of this.watchers) watcher.revoked(ids);
  }

  close(): void {
    this.closed = true;
    this.subscription.close();
  }

  /**
   * Subscribed first, then read: a revocation logged after the read started arrives as a message, one
   * logged before it is in what the read answers. A failed read (the store's own connection may still be
   * coming back) leaves the feed blind, telling the watchers why, and is tried again while this
   * connection lasts.
   */
  private async catchUp(subscriber: Redis, current: () => boolean, everything: boolean): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      if (this.closed || !current() || subscriber.status !== 'ready') return;
      this.setState('catching_up');
      const since =
        everything || this.lastLoggedMs === undefined ? undefined : this.lastLoggedMs - CATCH_UP_MARGIN_MS;
      try {
        const caughtUp = await this.readPages(since === undefined ? '-inf' : String(since), current);
        if (caughtUp === undefined) return;
        this.setState('live', { caughtUp });
        return;
      } catch (error) {
        if (!current()) return;
        this.setState('blind', { failure: reasonOf(error) });
        await new Promise((resolve) => setTimeout(resolve, reconnectDelay(attempt)).unref());
      }
    }
  }

  /**
   * Reads the log from `min` on, page by page, passing each page on as it comes: by score, each page
   * starting at the last score of the one before (read again: a repeat is harmless, and entries sharing
   * that score are all read), so an entry logged meanwhile is never skipped. Only a page whose entries
   * all share one score is followed by offset within that score. Answers how many entries it passed
   * on, or undefined once this subscriber is no longer the one in use.
   */
  private async readPages(min: string, current: () => boolean): Promise<number | undefined> {
    let passedOn = 0;
    const pass = (page: Array<{ id: string; atMs: number }>) => {
      for (const { atMs } of page) this.logged(atMs);
      this.notify(page.map(({ id }) => id));
      passedOn += page.length;
    };
    for (;;) {
      const page = await this.readLog(min, '+inf', 0, CATCH_UP_PAGE);
      if (!current()) return undefined;
      pass(page);
      if (page.length < CATCH_UP_PAGE) return passedOn;
      const last = page[page.length - 1]!.atMs;
      if (page[0]!.atMs === last) {
        for (let offset = page.length; ; ) {
          const more = await this.readLog(String(last), String(last), offset, CATCH_UP_PAGE);
          if (!current()) return undefined;
          pass(more);
          offset += more.length;
          if (more.length < CATCH_UP_PAGE) break;
        }
        min = `(${last}`;
      } else {
        min = String(last);
      }
    }
  }

  /**
   * `<log time> <id>…` from the log script, or `- <id>…` from an ending script (no log time yet). Its
   * time counts towards where the next catch-up starts only while live: before, what is older may not
   * have been read yet (a catch-up still reading, or failed), and must be read from where the reading
   * got to.
   */
  private heard(text: string): void {
    const [at, ...ids] = text.split(' ');
    if (at !== '-' && this.current === 'live') this.logged(Number(at));
    this.notify(ids.filter((id) => id !== ''));
  }

  private logged(atMs: number): void {
    if (Number.isFinite(atMs) && (this.lastLoggedMs === undefined || atMs > this.lastLoggedMs))
      this.lastLoggedMs = atMs;
  }

  private setState(state: RevocationFeedState, details?: RevocationFeedDetails): void {
    if (state === this.current && details === undefined) return;
    this.current = state;
    for (const watcher of this.watchers) watcher.state(state, details);
  }
}

/** What went wrong, as Redis or the connection said it (the store wraps it in a 503 of its own). */
function reasonOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.cause instanceof Error ? error.cause.message : error.message;
}
