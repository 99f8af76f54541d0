import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/** What the service counts, on a registry of its own (no prom-client globals). */
export interface Metrics {
  registry: Registry;
  /** One finished HTTP request; `route` is the router's pattern, never the raw path. */
  observeRequest(route: string, method: string, status: number, seconds: number): void;
  /** One call to WeChat; outcome is 'ok', an errcode, or a transport failure name. */
  observeWechat(api: string, outcome: string): void;
  /** issued (a login), refreshed, reuse_detected, revoked (a family ended by logout). */
  observeToken(event: TokenEvent, count?: number): void;
  observeStoreError(): void;
  observeRateLimited(limit: string): void;
}

export type TokenEvent = 'issued' | 'refreshed' | 'reuse_detected' | 'revoked';

export function createMetrics(options: { processMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry });

  const requests = new Counter({
    name: 'wxauth_http_requests_total',
    help: 'HTTP requests by route pattern, method and status.',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'wxauth_http_request_duration_seconds',
    help: 'HTTP request latency by route pattern and method.',
    labelNames: ['route', 'method'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const wechat = new Counter({
    name: 'wxauth_wechat_calls_total',
    help: "Calls to WeChat's API by API and outcome (ok, errcode, timeout, network, http_status, not_json, circuit_open, deadline).",
    labelNames: ['api', 'outcome'] as const,
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

  return {
    registry,
    observeRequest(route, method, status, seconds) {
      requests.inc({ route, method, status: String(status) });
      latency.observe({ route, method }, seconds);
    },
    observeWechat(api, outcome) {
      wechat.inc({ api, outcome });
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
  };
}
