import type { Bench, Service } from '../context.js';
import { options } from '../options.js';
import type { Row } from '../report.js';
import { BEFORE } from '../targets.js';
import { load, type Run } from '../traffic.js';
import { log, n, pct } from '../util.js';
import type { PhaseResult, Subject } from './types.js';

/** POST /auth/login (against the emulator, in this process) and POST /auth/refresh at full load. */
export async function sessions({ bench, service, compared }: Subject): Promise<PhaseResult> {
  // Three rounds (medians), the compared build's in the same rounds, each round in the other order.
  const runs: { mine: Runs[]; theirs: Runs[] } = { mine: [], theirs: [] };
  for (let r = 0; r < (options.quick ? 1 : 3); r += 1) {
    if (r % 2 === 0 || !compared) runs.mine.push(await loginAndRefresh(bench, service));
    if (compared) runs.theirs.push(await loginAndRefresh(bench, compared));
    if (r % 2 === 1 && compared) runs.mine.push(await loginAndRefresh(bench, service));
  }
  const mine = medianRuns(runs.mine);
  const theirs = compared ? medianRuns(runs.theirs) : undefined;
  const { login, refresh } = mine;
  // Before: the compared build in the same rounds when there is one (the machine drifts from day to
  // day), else the figure recorded in targets.ts.
  const describe = (run: Run, recorded: number, other: Run | undefined) => {
    const failed = run.non2xx + run.errors;
    const before = other?.cpuUs ?? recorded;
    return {
      result:
        `${n(run.rps)} req/s, p99 ${run.p99Ms} ms` +
        (run.serviceCpu === undefined ? '' : `, service at ${pct(run.serviceCpu)} of its core`) +
        (failed > 0 ? ` (${failed} failed)` : '') +
        `; ${run.cpuUs} µs of CPU per request, ` +
        (other
          ? `${options.compare} in the same rounds ${other.cpuUs} µs`
          : `before ${recorded} µs (${BEFORE.date})`) +
        `: ${((run.cpuUs ?? Number.NaN) / before).toFixed(2)}×`,
      value: (run.cpuUs ?? Number.NaN) / before,
    };
  };
  const loginRow = describe(login, BEFORE.loginCpuUs, theirs?.login);
  const refreshRow = describe(refresh, BEFORE.refreshCpuUs, theirs?.refresh);
  const rows: Row[] = [
    { measure: '`POST /auth/login` (emulator)', ...loginRow, target: 'loginOverBefore' },
    { measure: '`POST /auth/refresh`', ...refreshRow, target: 'refreshOverBefore' },
  ];
  return { results: { ...mine, runs }, rows };
}

interface Runs {
  login: Run;
  refresh: Run;
}

/** The run of median CPU per request, of logins and of refreshes. */
function medianRuns(runs: Runs[]): Runs {
  const pick = (all: Run[]) =>
    [...all].sort((a, b) => (a.cpuUs ?? 0) - (b.cpuUs ?? 0))[Math.floor(all.length / 2)]!;
  return { login: pick(runs.map((r) => r.login)), refresh: pick(runs.map((r) => r.refresh)) };
}

async function loginAndRefresh(bench: Bench, service: Service): Promise<Runs> {
  log(`login and refresh: ${service.process.child.spawnargs.at(-1)}`);
  const { emulator } = bench;
  const users = Array.from({ length: 10_000 }, () => emulator.createUser().openid);
  let nextUser = 0;
  const login = await load(service, {
    method: 'POST',
    path: '/auth/login',
    headers: { 'content-type': 'application/json' },
    setupRequest: (request) => ({
      ...request,
      body: JSON.stringify({ code: emulator.login(users[nextUser++ % users.length]).code }),
    }),
  });
  const refreshTokens = (
    await Promise.all(users.slice(0, options.connections * 4).map((u) => bench.login(service.url, u)))
  ).map((s) => s.refresh_token as string);
  // autocannon clears a connection's context after every request of a one-request sequence, so the
  // tokens live here: each request takes one, and its answer gives back the successor. A token taken
  // twice would be a reuse, which revokes its family and turns the rest of the run into 401s.
  const freeTokens = [...refreshTokens];
  const refreshFailures: Record<string, number> = {};
  const refresh = await load(service, {
    method: 'POST',
    path: '/auth/refresh',
    headers: { 'content-type': 'application/json' },
    setupRequest(request) {
      // A failed refresh gives no successor: once every token is spent so, the rest fail as counted.
      const token = freeTokens.shift() ?? 'spent';
      return { ...request, body: JSON.stringify({ refresh_token: token }) };
    },
    onResponse(status, body) {
      const answer = JSON.parse(body) as { refresh_token?: string; error?: string };
      if (status === 200 && answer.refresh_token) freeTokens.push(answer.refresh_token);
      else
        refreshFailures[`${status} ${answer.error}`] =
          (refreshFailures[`${status} ${answer.error}`] ?? 0) + 1;
    },
  });
  if (Object.keys(refreshFailures).length > 0) log(`refresh failures: ${JSON.stringify(refreshFailures)}`);
  return { login, refresh };
}
