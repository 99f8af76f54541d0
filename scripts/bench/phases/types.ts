import type { Bench, Service } from '../context.js';
import type { Row } from '../report.js';

/** What the phases measure against: the service without rate limits, and its users. */
export interface Subject {
  bench: Bench;
  service: Service;
  /** The --compare build, started as `service` is. */
  compared?: Service;
  comparedTokens?: string[];
  /** One login per user (options.users of them): its token response. */
  sessions: Record<string, unknown>[];
  /** Their access tokens, which Bearer runs present in turn. */
  tokens: string[];
}

export interface PhaseResult {
  /** For results.json. */
  results: unknown;
  /** For the table, in the order printed. */
  rows: Row[];
}
