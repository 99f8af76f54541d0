import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { requestMetrics } from './requests.js';

/** What the service counts, on a registry of its own (no prom-client globals). */
export interface Metrics {
  registry: Registry;
  /** One finished HTTP request; `route` is the router's pattern, never the raw path. */
  observeRequest(route: string, method: string, status: number, seconds: number): void;
  /** One call to WeChat; outcome is 'ok', an errcode, or a transport failure name. */
  /** One call to WeChat's API for the app `appid` (each app its own WeChat credentials and quotas). */
  observeWechat(api: string, outcome: string, appid: string): void;
  /** issued (a login), refreshed, reuse_detected, revoked (a family ended by logout). */
  observeToken(event: TokenEvent, count?: number): void;
  observeStoreError(): void;
  observeRateLimited(limit: string): void;
  /** Sessions ended, by why; their access tokens are refused from then on. */
  observeRevocation(cause: RevocationCause, count: number): void;
  /** One request to the admin API; `route` is the router's pattern. */
  observeAdminAction(route: string, status: number): void;
  /** How long this instance could not hear of revocations, once it hears again. */
  observeRevocationBlind(seconds: number): void;
  /** A read of the revocation log that failed (catching up, at start or after a reconnection). */
  observeRevocationCatchUpFailure(): void;
  /** A web login's ticket reached `outcome` (each ticket counts once per outcome). */
  observeWebLogin(outcome: WebLoginOutcome): void;
}

/** `mismatched`: a confirm named other digits than the website showed (a relayed code, or a slip). */
export type WebLoginOutcome = 'created' | 'scanned' | 'confirmed' | 'canceled' | 'mismatched' | 'expired';

export type TokenEvent = 'issued' | 'refreshed' | 'reuse_detected' | 'revoked';

export type RevocationCause =
  | 'logout'
  | 'logout_all'
  | 'session_ended'
  | 'account_deleted'
  | 'admin_logout'
  | 'ban'
  | 'session_cap'
  | 'reuse';

export function createMetrics(options: { processMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry });

  const observeRequest = requestMetrics(registry);
  const wechat = new Counter({
    name: 'wxauth_wechat_calls_total',
    help: "Calls to WeChat's API by app, API and outcome (ok, errcode, timeout, network, http_status, not_json, circuit_open, deadline).",
    labelNames: ['appid', 'api', 'outcome'] as const,
    registers: [registry],
  });
  const tokens = new Counter({
    name: 'wxauth_tokens_total',
    help: 'Token events: issued (logins), refreshed, reuse_detected, revoked.',
    labelNames: ['event'] as const,
    registers: [registry],
  });
  const storeErrors = new Counter({
    name: 'wxauth_store_errors_total',
    help: 'Requests that failed because the store (Redis) was unreachable.',
    registers: [registry],
  });
  const rateLimited = new Counter({
    name: 'wxauth_rate_limited_total',
    help: 'Requests refused by a rate limit, by limit.',
    labelNames: ['limit'] as const,
    registers: [registry],
  });
  for (const event of ['issued', 'refreshed', 'reuse_detected', 'revoked'] as const) tokens.inc({ event }, 0);
  const revocations = new Counter({
    name: 'wxauth_revocations_total',
    help: 'Sessions ended, whose access tokens are refused at once, by cause (logout, logout_all, session_ended, account_deleted, admin_logout, ban, session_cap, reuse).',
    labelNames: ['cause'] as const,
    registers: [registry],
  });
  const adminActions = new Counter({
    name: 'wxauth_admin_actions_total',
    help: 'Requests to the admin API by route pattern and status.',
    labelNames: ['route', 'status'] as const,
    registers: [registry],
  });
  const revocationBlind = new Histogram({
    name: 'wxauth_revocation_blind_seconds',
    help: 'How long this instance could not hear of revocations (its feed disconnected) before it caught up again.',
    buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900],
    registers: [registry],
  });
  const catchUpFailures = new Counter({
    name: 'wxauth_revocation_catchup_failures_total',
    help: 'Reads of the revocation log that failed while this instance caught up (each is tried again; until the first succeeds, Bearer routes answer 503).',
    registers: [registry],
  });

  const webLogins = new Counter({
    name: 'wxauth_web_logins_total',
    help: "Web logins' tickets by outcome: created, scanned, confirmed, canceled, mismatched (a confirm named the wrong number), expired (seen expired by a poll or a scan).",
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  for (const outcome of ['created', 'scanned', 'confirmed', 'canceled', 'mismatched', 'expired'] as const) {
    webLogins.inc({ outcome }, 0);
  }

  return {
    registry,
    observeRequest,
    observeWechat(api, outcome, appid) {
      wechat.inc({ appid, api, outcome });
    },
    observeToken(event, count = 1) {
      tokens.inc({ event }, count);
    },
    observeStoreError() {
      storeErrors.inc();
    },
    observeRateLimited(limit) {
      rateLimited.inc({ limit });
    },
    observeRevocation(cause, count) {
      revocations.inc({ cause }, count);
    },
    observeAdminAction(route, status) {
      adminActions.inc({ route, status: String(status) });
    },
    observeRevocationBlind(seconds) {
      revocationBlind.observe(seconds);
    },
    observeRevocationCatchUpFailure() {
      catchUpFailures.inc();
    },
    observeWebLogin(outcome) {
      webLogins.inc({ outcome });
    },
  };
}
