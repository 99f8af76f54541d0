import { performance } from 'node:perf_hooks';
import autocannon, { type Request } from 'autocannon';
import { options } from './options.js';
import { round } from './util.js';

/** What a run needs of the process it loads. */
export interface Target {
  url: string;
  /** CPU time of the serving process alone, seconds (NaN where /proc is missing). */
  cpuSeconds(): number;
}

export interface Run {
  rps: number;
  requests: number;
  non2xx: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  /** The share of one core the serving process used during the run (1: all of it). */
  serviceCpu?: number;
  /** The serving process's CPU time per 2xx answer, µs: the unit that compares routes. */
  cpuUs?: number;
}

/** One autocannon run; p50/p99 from every response's own time (autocannon rounds to whole ms). */
export async function load(
  target: Target,
  request: Request,
  durationS = options.durationS,
  pipelining = 1,
): Promise<Run> {
  const times: number[] = [];
  let answered = 0;
  const cpuBefore = target.cpuSeconds();
  const startedAt = performance.now();
  const instance = autocannon({
    url: target.url,
    connections: options.connections,
    pipelining,
    duration: durationS,
    requests: [request],
  });
  instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    times.push(ms);
    if (status >= 200 && status < 300) answered += 1;
  });
  const result = await instance;
  const cpu = target.cpuSeconds() - cpuBefore;
  const serviceCpu = cpu / ((performance.now() - startedAt) / 1000);
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? Number.NaN;
  return {
    rps: round(result.requests.average),
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    p50Ms: round(at(0.5), 2),
    p99Ms: round(at(0.99), 2),
    ...(Number.isNaN(serviceCpu) ? {} : { serviceCpu: round(serviceCpu, 2) }),
    ...(Number.isNaN(cpu) || answered === 0 ? {} : { cpuUs: round((cpu * 1e6) / answered, 1) }),
  };
}

/**
 * GET `path`, each request presenting the next token of `tokens` in turn (autocannon clears a
 * connection's context after each request of a one-request sequence, so there is no per-connection
 * token to keep).
 */
export function bearer(tokens: string[], path = '/auth/me', method = 'GET'): Request {
  let next = 0;
  return {
    method,
    path,
    setupRequest(request) {
      const token = tokens[next++ % tokens.length]!;
      return { ...request, headers: { authorization: `Bearer ${token}` } };
    },
  };
}

export const HEALTHZ: Request = {
  method: 'GET',
  path: '/healthz',
  setupRequest: (request) => ({ ...request }),
};

export async function json(response: Response): Promise<Record<string, unknown>> {
  const body = (await response.json()) as Record<string, unknown>;
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${JSON.stringify(body)}`);
  return body;
}

export function post(url: string, body: unknown, token?: string): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
}
