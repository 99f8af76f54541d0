import { expect } from 'chai';
import { Counter, Histogram, Registry } from 'prom-client';
import { createMetrics } from '../../src/metrics/index.js';

/** What prom-client's own Counter and Histogram print for the same requests. */
async function reference(requests: [string, string, number, number][]): Promise<string> {
  const registry = new Registry();
  const counter = new Counter({
    name: 'wxauth_http_requests_total',
    help: 'HTTP requests by route pattern, method and status.',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  });
  const histogram = new Histogram({
    name: 'wxauth_http_request_duration_seconds',
    help: 'HTTP request latency by route pattern and method.',
    labelNames: ['route', 'method'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  for (const [route, method, status, seconds] of requests) {
    counter.inc({ route, method, status: String(status) });
    histogram.observe({ route, method }, seconds);
  }
  return registry.metrics();
}

/** The lines of one metric (its # HELP, # TYPE and samples) in an exposition. */
function linesOf(text: string, name: string): string[] {
  return text.split('\n').filter((line) => line.includes(`${name}`));
}

describe('HTTP request metrics', () => {
  // Durations that binary floating point holds exactly, so that sums agree whatever the order of adding.
  const requests: [string, string, number, number][] = [
    ['/auth/me', 'GET', 200, 2 ** -12],
    ['/auth/me', 'GET', 200, 2 ** -11],
    ['/auth/me', 'GET', 401, 2 ** -10],
    ['/auth/login', 'POST', 200, 2 ** -4],
    ['/auth/login', 'POST', 502, 7],
    ['unmatched', 'GET', 404, 2 ** -14],
    ['/auth/me', 'GET', 200, 2.5],
  ];

  it('expose the same counter and histogram lines as prom-client counting each request itself', async () => {
    const metrics = createMetrics();
    for (const [route, method, status, seconds] of requests)
      metrics.observeRequest(route, method, status, seconds);
    const ours = await metrics.registry.metrics();
    const theirs = await reference(requests);
    for (const name of ['wxauth_http_requests_total', 'wxauth_http_request_duration_seconds'])
      expect(linesOf(ours, name)).to.deep.equal(linesOf(theirs, name));
  });

  it('count on between scrapes and answer the same JSON as prom-client', async () => {
    const metrics = createMetrics();
    metrics.observeRequest('/auth/me', 'GET', 200, 2 ** -9);
    await metrics.registry.metrics();
    for (const [route, method, status, seconds] of requests)
      metrics.observeRequest(route, method, status, seconds);
    const reg = await reference([['/auth/me', 'GET', 200, 2 ** -9], ...requests]);
    expect(linesOf(await metrics.registry.metrics(), 'wxauth_http')).to.deep.equal(
      linesOf(reg, 'wxauth_http'),
    );
    const json = (await metrics.registry.getMetricsAsJSON()).filter((m) => m.name.startsWith('wxauth_http'));
    expect(json.map((m) => [m.name, m.type, m.values.length])).to.deep.equal([
      ['wxauth_http_requests_total', 'counter', 5],
      ['wxauth_http_request_duration_seconds', 'histogram', 3 * 16],
    ]);
  });
});
