import type { Cluster, Redis } from 'ioredis';

/** While stalled, how often a PING asks whether Redis answers again, ms. */
const PROBE_INTERVAL_MS = 100;

/**
 * Tells whether a Redis connection is stalled: up, but not answering (hung, swapping, a long command).
 * Once any command on it timed out, `stalled` is true until a PING is answered again; meanwhile callers
 * fail at once (or, for rate limits, count in memory) instead of each waiting out its own command
 * timeout. So a request during a stall answers within one command timeout, however many Redis calls it
 * would have made. A connection that is down needs no guard: ioredis fails those commands at once.
 */
export class StallGuard {
  private probe: NodeJS.Timeout | undefined;
  private readonly recovered: Array<() => void> = [];

  constructor(private readonly redis: Redis | Cluster) {}

  /** Called each time Redis answers again after a stall. */
  onRecovered(listener: () => void): void {
    this.recovered.push(listener);
  }

  get stalled(): boolean {
    return this.probe !== undefined;
  }

  /** To be told of every error a command on this connection raised; only a timeout counts. */
  noteError(error: unknown): void {
    if (error instanceof Error && error.message === 'Command timed out') this.startProbing();
  }

  close(): void {
    clearInterval(this.probe);
    this.probe = undefined;
  }

  private startProbing(): void {
    if (this.probe !== undefined) return;
    let asking = false;
    this.probe = setInterval(() => {
      if (asking) return;
      asking = true;
      this.redis
        .ping()
        .then(() => {
          this.close();
          for (const listener of this.recovered) listener();
        })
        .catch(() => undefined)
        .finally(() => {
          asking = false;
        });
    }, PROBE_INTERVAL_MS);
    this.probe.unref();
  }
}
