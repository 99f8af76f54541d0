import { reconnectDelay } from './connection.js';

/** Ended families (and users to look at) remembered for a later log write, at most; oldest go first. */
const MAX_UNLOGGED = 10_000;
/** Ids per log write when catching up on them. */
const BATCH = 1000;

/**
 * Writes ended families to the revocation log and forgets them on their users' keys; rejects when the
 * log write failed.
 */
export type EndingLogger = (byUser: Map<string, string[]>) => Promise<void>;

/** The user's ended families still waiting on the user's keys to be logged (see REVOKED in scripts.ts). */
export type PendingEndings = (openid: string) => Promise<string[]>;

/**
 * Endings this process applied whose write to the revocation log failed (Redis full, a failover, a
 * stall between the two round trips), and users whose ending script may have run although its caller
 * got no answer (a timeout: Redis may run it late, within its deadline, or its reply was lost). Their
 * client got 503 and may never retry (its token is refused here), so they are logged from here, with
 * back-off, until the log takes them; otherwise an instance started later would accept their tokens.
 * A closing store tries once more. Bounded: past MAX_UNLOGGED the oldest are dropped here, and still
 * wait on their users' keys for the user's next ending, as does everything here should this process
 * end without reaching Redis.
 */
export class UnloggedEndings {
  /** Family id → its user's openid, oldest first. */
  private readonly waiting = new Map<string, string>();
  /** Users whose ending's outcome is unknown: what waits on their keys is read, then logged. */
  private readonly users = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private attempt = 0;
  /** A retry is under way: it takes what is added meanwhile too. */
  private running: Promise<boolean> | undefined;
  private closed = false;

  constructor(
    private readonly log: EndingLogger,
    private readonly pendingOf: PendingEndings,
  ) {}

  /** How many families and users wait. */
  get size(): number {
    return this.waiting.size + this.users.size;
  }

  /** The user's families whose log write just failed: logged again later. */
  add(openid: string, ids: readonly string[]): void {
    for (const id of ids) {
      this.waiting.delete(id);
      this.waiting.set(id, openid);
    }
    this.trim();
    this.schedule();
  }

  /** An ending of the user's that may have run unanswered: what waits on the user's keys is logged later. */
  check(openid: string): void {
    this.users.delete(openid);
    this.users.add(openid);
    this.trim();
    this.schedule();
  }

  /** Families logged by other means (the user's next ending): nothing left to do for them. */
  logged(ids: readonly string[]): void {
    if (this.waiting.size === 0) return;
    for (const id of ids) this.waiting.delete(id);
  }

  /** Stops retrying, after one last try to log what waits (each step bounded by the command timeout). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running !== undefined) await this.running;
    else if (this.size > 0) await this.drain();
  }

  private trim(): void {
    for (const queue of [this.users, this.waiting]) {
      for (const key of queue.keys()) {
        if (this.size <= MAX_UNLOGGED) return;
        queue.delete(key);
      }
    }
  }

  private schedule(): void {
    if (this.closed || this.running || this.timer !== undefined || this.size === 0) return;
    this.attempt += 1;
    this.timer = setTimeout(() => void this.retry(), reconnectDelay(this.attempt));
    this.timer.unref();
  }

  private async retry(): Promise<void> {
    this.timer = undefined;
    const ok = await this.drain();
    if (!ok) this.schedule();
  }

  /** Logs everything waiting, in batches; false at the first failure. */
  private drain(): Promise<boolean> {
    const run = async (): Promise<boolean> => {
      for (const openid of [...this.users]) {
        try {
          const ids = await this.pendingOf(openid);
          this.users.delete(openid);
          if (ids.length > 0) this.add(openid, ids);
        } catch {
          return false;
        }
      }
      while (this.waiting.size > 0) {
        const byUser = new Map<string, string[]>();
        const batch: string[] = [];
        for (const [id, openid] of this.waiting) {
          if (batch.length === BATCH) break;
          batch.push(id);
          const ids = byUser.get(openid);
          if (ids === undefined) byUser.set(openid, [id]);
          else ids.push(id);
        }
        try {
          await this.log(byUser);
        } catch {
          return false;
        }
        this.logged(batch);
        this.attempt = 0;
      }
      return true;
    };
    this.running = run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }
}
