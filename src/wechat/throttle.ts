import type { Clock } from '../lib/index.js';

export interface KeyedThrottleOptions {
  /** A key let through is refused for this long. */
  windowMs: number;
  /** At most this many keys are remembered; past it, new keys are refused until old ones age out. */
  maxKeys: number;
  clock: Clock;
}

/**
 * Lets each key through at most once per window, in this process. Bounded: when `maxKeys` keys were
 * let through within the window, new keys are refused rather than old ones forgotten, so a flood of
 * keys neither grows the memory nor reopens another key's window.
 */
export class KeyedThrottle {
  /** When each key was let through; insertion order is time order, so the oldest come first. */
  private readonly passed = new Map<string, number>();

  constructor(private readonly options: KeyedThrottleOptions) {}

  /** true, counting it, when `key` may go through now. */
  take(key: string): boolean {
    const now = this.options.clock.now();
    for (const [old, atMs] of this.passed) {
      if (now - atMs < this.options.windowMs) break;
      this.passed.delete(old);
    }
    if (this.passed.has(key) || this.passed.size >= this.options.maxKeys) return false;
    this.passed.set(key, now);
    return true;
  }
}
