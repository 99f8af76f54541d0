import type { Clock } from '../lib/index.js';

export interface BreakerOptions {
  /** Consecutive failures that open the circuit. */
  threshold: number;
  /** How long it stays open before one trial call is let through. */
  cooldownMs: number;
  clock: Clock;
}

export type Admission = { allowed: true } | { allowed: false; retryAfterS: number };

/**
 * Stops piling requests on a WeChat that keeps failing: after `threshold` consecutive failures every
 * call fails fast for `cooldownMs`; then one trial call goes through (half-open), and its outcome closes
 * or reopens the circuit. Per process: it describes what this instance has seen of WeChat.
 */
export class CircuitBreaker {
  private failures = 0;
  private openUntil = 0;
  private trialInFlight = false;

  constructor(private readonly options: BreakerOptions) {}

  admit(): Admission {
    if (this.failures < this.options.threshold) return { allowed: true };
    const now = this.options.clock.now();
    if (now < this.openUntil || this.trialInFlight) {
      return { allowed: false, retryAfterS: Math.max(1, Math.ceil((this.openUntil - now) / 1000)) };
    }
    this.trialInFlight = true;
    return { allowed: true };
  }

  succeeded(): void {
    this.failures = 0;
    this.trialInFlight = false;
  }

  /** A call whose outcome says nothing either way (it had too little time): a trial may be made again. */
  inconclusive(): void {
    this.trialInFlight = false;
  }

  failed(): void {
    this.failures += 1;
    this.trialInFlight = false;
    if (this.failures >= this.options.threshold)
      this.openUntil = this.options.clock.now() + this.options.cooldownMs;
  }
}
