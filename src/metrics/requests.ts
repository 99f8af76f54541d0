import { Counter, type Histogram, type Registry } from 'prom-client';

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** The requests of one route pattern, method and status. */
interface Series {
  readonly route: string;
  readonly method: string;
  readonly status: string;
  count: number;
  sum: number;
  /** [i]: requests that took at most BUCKETS[i] and more than BUCKETS[i - 1]; the last: more than all. */
  readonly buckets: number[];
}

export type ObserveRequest = (route: string, method: string, status: number, seconds: number) => void;

/**
 * wxauth_http_requests_total and wxauth_http_request_duration_seconds, counted in plain objects (one
 * per route, method and status, found by three map lookups) and handed to prom-client when scraped.
 * prom-client's inc() and observe() build and check a key of the labels on every call: 1.6 µs a
 * request, a tenth of what a whole bare Koa request costs.
 */
export function requestMetrics(registry: Registry): ObserveRequest {
  const routes = new Map<string, Map<string, Map<number, Series>>>();
  const all: Series[] = [];

  new Counter({
    name: 'wxauth_http_requests_total',
    help: 'HTTP requests by route pattern, method and status.',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of all) this.inc({ route: s.route, method: s.method, status: s.status }, s.count);
    },
  });

  const name = 'wxauth_http_request_duration_seconds';
  const help = 'HTTP request latency by route pattern and method.';
  // Not a prom-client Histogram, whose observe() is the cost: an object of the shape the registry reads
  // (it formats what get() answers), giving the lines a Histogram would, in the same order.
  const durations = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    reset() {
      routes.clear();
      all.length = 0;
    },
    async get() {
      const byRouteAndMethod = new Map<string, { route: string; method: string; s: Series[] }>();
      for (const s of all) {
        const key = `${s.route} ${s.method}`;
        const group = byRouteAndMethod.get(key) ?? { route: s.route, method: s.method, s: [] };
        group.s.push(s);
        byRouteAndMethod.set(key, group);
      }
      const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
      for (const { route, method, s } of byRouteAndMethod.values()) {
        let cumulated = 0;
        for (const [i, le] of BUCKETS.entries()) {
          for (const one of s) cumulated += one.buckets[i]!;
          values.push({ metricName: `${name}_bucket`, labels: { le, route, method }, value: cumulated });
        }
        const count = s.reduce((total, one) => total + one.count, 0);
        values.push(
          { metricName: `${name}_bucket`, labels: { le: '+Inf', route, method }, value: count },
          {
            metricName: `${name}_sum`,
            labels: { route, method },
            value: s.reduce((t, one) => t + one.sum, 0),
          },
          { metricName: `${name}_count`, labels: { route, method }, value: count },
        );
      }
      return { name, help, type: 'histogram', aggregator: 'sum', values };
    },
  };
  registry.registerMetric(durations as unknown as Histogram);

  return function observeRequest(route, method, status, seconds) {
    let methods = routes.get(route);
    if (methods === undefined) {
      methods = new Map();
      routes.set(route, methods);
    }
    let statuses = methods.get(method);
    if (statuses === undefined) {
      statuses = new Map();
      methods.set(method, statuses);
    }
    let series = statuses.get(status);
    if (series === undefined) {
      series = {
        route,
        method,
        status: String(status),
        count: 0,
        sum: 0,
        buckets: Array(BUCKETS.length + 1).fill(0),
      };
      statuses.set(status, series);
      all.push(series);
    }
    series.count += 1;
    series.sum += seconds;
    let i = 0;
    while (i < BUCKETS.length && seconds > BUCKETS[i]!) i += 1;
    series.buckets[i]! += 1;
  };
}
