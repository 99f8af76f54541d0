import { reconnectDelay } from './connection.js';

/** Ended families remembered for a later log write, at most; the oldest go first past it. */
const MAX_UNLOGGED = 10_000;
/** Ids per log write when catching up on them. */
const BATCH = 1000;

/**
 * Writes ended families to the revocation log and forgets them on their users' keys; rejects when the
 * log write failed.
 */
export type EndingLogger = (byUser: Map<string, string[]>) => Promise<void>;

/**
 * Endings this process applied whose write to the revocation log failed (Redis full, a failover, a
 * stall between the two round trips): their client got 503 and may never retry (its token is refused
 * here), so they are logged again from here, with back-off, until the log takes them. Otherwise an
 * instance started later would accept their tokens. Bounded: past MAX_UNLOGGED the oldest are dropped
 * here, and still wait on their users' keys for the user's next ending (see REVOKED in scripts.ts), as
 * does everything here should this process end first.
 */
export class UnloggedEndings {
  /** Family id → its user's openid, oldest first. */
  private readonly waiting = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private attempt = 0;
  /** A retry is under way: it takes what is added meanwhile too. */
  private running = false;
  private closed = false;

  constructor(private readonly log: EndingLogger) {}

  /** How many wait to be logged. */
  get size(): number {
    return this.waiting.size;
  }

  /** The user's families whose log write just failed: logged again later. */
  add(openid: string, ids: readonly string[]): void {
    for (const id of ids) {
      this.waiting.delete(id);
      this.waiting.set(id, openid);
    }
    for (const id of this.waiting.keys()) {
      if (this.waiting.size <= MAX_UNLOGGED) break;
      this.waiting.delete(id);
    }
    this.schedule();
  }

  /** Families logged by other means (the user's next ending): nothing left to do for them. */
  logged(ids: readonly string[]): void {
    if (this.waiting.size === 0) return;
    for (const id of ids) this.waiting.delete(id);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.closed || this.running || this.timer !== undefined || this.waiting.size === 0) return;
    this.attempt += 1;
    this.timer = setTimeout(() => void this.retry(), reconnectDelay(this.attempt));
    this.timer.unref();
  }

  private async retry(): Promise<void> {
    this.timer = undefined;
    this.running = true;
    let failed = false;
    try {
      while (!this.closed && this.waiting.size > 0) {
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
          failed = true;
          break;
        }
        this.logged(batch);
        this.attempt = 0;
      }
    } finally {
      this.running = false;
    }
    if (failed) this.schedule();
  }
}
