import { join } from 'node:path';
import type { Request } from 'autocannon';
import { ROOT } from '../../lib/spawn.js';
import { SERVICE_CORE, type Service } from '../context.js';
import { options } from '../options.js';
import type { Row } from '../report.js';
import { BEFORE } from '../targets.js';
import { bearer, HEALTHZ, load, type Run } from '../traffic.js';
import { log, median, n, pct, round } from '../util.js';
import type { PhaseResult, Subject } from './types.js';

const ANCHORS = join(ROOT, 'scripts/bench/anchors');

interface Contender {
  name: 'healthz' | 'me' | 'verify' | 'bareKoa' | 'ticket' | 'meCompared';
  target: Service;
  request: Request;
}

function medians(runs: Run[]) {
  return {
    rps: round(median(runs.map((r) => r.rps))),
    p50Ms: round(median(runs.map((r) => r.p50Ms)), 2),
    p99Ms: round(median(runs.map((r) => r.p99Ms)), 2),
    serviceCpu: round(median(runs.map((r) => r.serviceCpu ?? Number.NaN)), 2),
    cpuUs: round(median(runs.map((r) => r.cpuUs ?? Number.NaN)), 1),
  };
}
type Medians = ReturnType<typeof medians>;

/**
 * The Bearer routes against the bare /healthz of the same service and against two anchors this phase
 * starts on the service's core: a bare Koa app and Koa with an opaque ticket read from Redis (the
 * design wxauth replaces). Each round runs every one of them, each round in another order, so that the
 * machine's drift favours none; figures are medians of the rounds. The unit that compares them is the
 * serving process's CPU time per answered request: on two cores the load generator, not the service,
 * limits a cheap route's req/s.
 */
export async function routes({
  bench,
  service,
  compared,
  comparedTokens,
  tokens,
}: Subject): Promise<PhaseResult> {
  const bareKoa = await bench.start(
    join(ANCHORS, 'bare-koa.js'),
    {},
    { cores: SERVICE_CORE, ready: /listening on/ },
  );
  const ticketAnchor = await bench.start(
    join(ANCHORS, 'redis-ticket.js'),
    { REDIS_URL: bench.redis.url, TICKETS: String(tokens.length) },
    { cores: SERVICE_CORE, ready: /^\{"tickets":.*\}$/m },
  );
  const { tickets } = JSON.parse((await ticketAnchor.process.match(/^\{"tickets":.*\}$/m))[0]) as {
    tickets: string[];
  };
  // /auth/verify (forward auth) where the service has it.
  const verifies =
    (await fetch(`${service.url}/auth/verify`, { headers: { authorization: `Bearer ${tokens[0]}` } }))
      .status === 200;
  const contenders: Contender[] = [
    { name: 'healthz', target: service, request: HEALTHZ },
    { name: 'me', target: service, request: bearer(tokens) },
    ...(verifies
      ? [{ name: 'verify' as const, target: service, request: bearer(tokens, '/auth/verify') }]
      : []),
    { name: 'bareKoa', target: bareKoa, request: bearer(tokens, '/') },
    { name: 'ticket', target: ticketAnchor, request: bearer(tickets, '/') },
    ...(compared
      ? [{ name: 'meCompared' as const, target: compared, request: bearer(comparedTokens ?? tokens) }]
      : []),
  ];

  log('warm-up');
  for (const c of contenders) await load(c.target, c.request, options.quick ? 2 : 5);
  const runs: Record<string, Run[]> = Object.fromEntries(contenders.map((c) => [c.name, []]));
  for (let r = 0; r < options.rounds; r += 1) {
    const order = [...contenders.slice(r % contenders.length), ...contenders.slice(0, r % contenders.length)];
    for (const c of r % 2 ? order.reverse() : order) runs[c.name]!.push(await load(c.target, c.request));
    log(
      `round ${r + 1}: ${contenders.map((c) => `${c.name} ${runs[c.name]!.at(-1)!.cpuUs} µs ${runs[c.name]!.at(-1)!.rps} req/s`).join(', ')}`,
    );
  }
  await bareKoa.stop();
  await ticketAnchor.stop();

  const m = Object.fromEntries(contenders.map((c) => [c.name, medians(runs[c.name]!)])) as Record<
    Contender['name'],
    Medians
  >;
  const perRound = (a: Contender['name'], b: Contender['name'], key: 'rps' | 'p99Ms' | 'cpuUs') =>
    runs[a]!.map((run, i) => round((run[key] ?? Number.NaN) / (runs[b]![i]![key] ?? Number.NaN), 3));
  const ratios = {
    meThroughputOfHealthz: round(m.me.rps / m.healthz.rps, 3),
    meP99OverHealthz: round(m.me.p99Ms / m.healthz.p99Ms, 3),
    perRoundThroughput: perRound('me', 'healthz', 'rps'),
    perRoundP99: perRound('me', 'healthz', 'p99Ms'),
    bareKoaOverMe: round(m.bareKoa.cpuUs / m.me.cpuUs, 3),
    meOverTicket: round(m.me.cpuUs / m.ticket.cpuUs, 3),
    perRoundBareKoaOverMe: perRound('bareKoa', 'me', 'cpuUs'),
    perRoundMeOverTicket: perRound('me', 'ticket', 'cpuUs'),
    ...(verifies
      ? {
          verifyOverTicket: round(m.verify.cpuUs / m.ticket.cpuUs, 3),
          verifyOverMe: round(m.verify.cpuUs / m.me.cpuUs, 3),
        }
      : {}),
  };

  // Before: the compared build's /auth/me in these same rounds when there is one (the machine drifts
  // from day to day), else the figures recorded in targets.ts.
  const before = compared
    ? { me: m.meCompared.cpuUs, bareKoa: m.bareKoa.cpuUs, ticket: m.ticket.cpuUs, of: 'the compared build' }
    : { me: BEFORE.meCpuUs, bareKoa: BEFORE.bareKoaCpuUs, ticket: BEFORE.ticketCpuUs, of: BEFORE.date };
  const cpu = (x: Medians) =>
    Number.isNaN(x.serviceCpu) ? '' : `, service at ${pct(x.serviceCpu)} of its core`;
  const rows: Row[] = [
    {
      measure: '`GET /healthz` (bare route), 1 core',
      result: `${n(m.healthz.rps)} req/s, p50 ${m.healthz.p50Ms} ms, p99 ${m.healthz.p99Ms} ms${cpu(m.healthz)}`,
    },
    {
      measure: '`GET /auth/me`, 1 core',
      result: `${n(m.me.rps)} req/s, p50 ${m.me.p50Ms} ms, p99 ${m.me.p99Ms} ms${cpu(m.me)}`,
    },
    {
      measure: '`/auth/me` throughput / `/healthz`',
      result: `${pct(ratios.meThroughputOfHealthz)} (rounds: ${ratios.perRoundThroughput.map(pct).join(', ')})`,
      target: 'meThroughputOfHealthz',
      value: ratios.meThroughputOfHealthz,
    },
    {
      measure: `\`/auth/me\` p99 / \`/healthz\` p99, ${options.connections} connections`,
      result: `${ratios.meP99OverHealthz.toFixed(2)}×`,
      target: 'meP99OverHealthz',
      value: ratios.meP99OverHealthz,
    },
    {
      measure: `Service CPU per request (${tokens.length} users' tokens in turn)`,
      result:
        `\`/auth/me\` ${m.me.cpuUs} µs` +
        (verifies ? `; \`/auth/verify\` ${m.verify.cpuUs} µs` : '') +
        `; \`/healthz\` ${m.healthz.cpuUs} µs` +
        `; bare Koa ${m.bareKoa.cpuUs} µs (${n(m.bareKoa.rps)} req/s)` +
        `; Koa + a Redis ticket ${m.ticket.cpuUs} µs (${n(m.ticket.rps)} req/s)` +
        (compared ? `; \`/auth/me\` of ${options.compare} ${m.meCompared.cpuUs} µs` : ''),
    },
    {
      measure: 'bare Koa ÷ `/auth/me`, CPU per request',
      result: `${ratios.bareKoaOverMe.toFixed(2)} (rounds: ${ratios.perRoundBareKoaOverMe.map((v) => v.toFixed(2)).join(', ')}); before (${before.of}) ${(before.bareKoa / before.me).toFixed(2)}`,
      target: 'bareKoaOverMe',
      value: ratios.bareKoaOverMe,
    },
    {
      measure: '`/auth/me` ÷ Koa + a Redis ticket, CPU per request',
      result: `${ratios.meOverTicket.toFixed(2)}× (rounds: ${ratios.perRoundMeOverTicket.map((v) => v.toFixed(2)).join(', ')}); before (${before.of}) ${(before.me / before.ticket).toFixed(2)}×`,
      target: 'meOverTicket',
      value: ratios.meOverTicket,
    },
  ];
  if (verifies && ratios.verifyOverTicket !== undefined && ratios.verifyOverMe !== undefined) {
    rows.push(
      {
        measure: '`/auth/verify` ÷ Koa + a Redis ticket, CPU per request',
        result: `${ratios.verifyOverTicket.toFixed(2)}×`,
        target: 'verifyOverTicket',
        value: ratios.verifyOverTicket,
      },
      {
        measure: '`/auth/verify` ÷ `/auth/me`, CPU per request',
        result: `${ratios.verifyOverMe.toFixed(2)}×`,
        target: 'verifyOverMe',
        value: ratios.verifyOverMe,
      },
    );
  }
  return { results: { medians: m, runs, ratios }, rows };
}
