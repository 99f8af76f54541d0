/**
 * Benchmarks, all on loopback, in one command:
 *   npm run bench                   about 9 minutes: 10 s runs, 5 rounds, 100,000 users
 *   npm run bench -- --quick        a smoke run: 3 s runs, 1 round, 10,000 users
 *   options: --duration S  --connections N  --rounds N  --records N  --users N  --log-level L  --out DIR
 *            --only routes,sessions,…  (phases: the names in PHASES)
 *            --dist DIR  (measure that compiled service instead of building src, e.g. an older build)
 *            --compare DIR  (another build's /auth/me, login and refresh in the same rounds: before/after)
 *            --profile DIR  (CPU profiles of the service, node --cpu-prof, written when it stops)
 *
 * The service is compiled as `npm run build` does (into .tmp/, removed after) and runs as its own
 * process, as `npm start` runs it, against a private redis-server, with the WeChat emulator in this
 * process. Load comes from autocannon in this process. With taskset and two cores or more, the service
 * (and the anchors the routes phase compares it with) is pinned to core 0, and this process and Redis
 * to core 1, so that the load generator does not take the service's core. Each phase (phases/) measures
 * and returns its rows; targets.ts holds every target and the figures from before. Writes
 * <out>/results.json and <out>/results.md and prints the table.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { canPin } from '../lib/spawn.js';
import { createBench, SERVICE_CORE } from './context.js';
import { options } from './options.js';
import { memory } from './phases/memory.js';
import { redis } from './phases/redis.js';
import { routes } from './phases/routes.js';
import { sessions } from './phases/sessions.js';
import { startup } from './phases/startup.js';
import { tokens } from './phases/tokens.js';
import type { PhaseResult, Subject } from './phases/types.js';
import { workers } from './phases/workers.js';
import { type Row, table } from './report.js';
import { log, n, round } from './util.js';

/** In the order they run and print. */
const PHASES: Record<string, (subject: Subject) => Promise<PhaseResult>> = {
  routes,
  tokens,
  sessions,
  workers,
  startup,
  redis,
  memory,
};

async function main(): Promise<void> {
  const started = performance.now();
  const unknown = options.only.filter((name) => !(name in PHASES));
  if (unknown.length > 0)
    throw new Error(`no phase ${unknown.join(', ')} (phases: ${Object.keys(PHASES).join(', ')})`);
  const bench = await createBench();
  log(
    `${options.durationS} s runs, ${options.connections} connections, ${options.rounds} round(s), ` +
      `${options.users} users' tokens, ${options.records} users for memory; ` +
      (canPin
        ? 'service on core 0, load generator and Redis on core 1'
        : 'no CPU pinning (taskset or a 2nd core missing)'),
  );
  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, pinned: canPin },
    settings: { ...options },
  };
  const rows: Row[] = [];
  try {
    const service = await bench.start(
      `${bench.dist}/server.js`,
      { ...bench.env, ...bench.noLimits },
      {
        cores: SERVICE_CORE,
        ...(options.profile === ''
          ? {}
          : { nodeOptions: ['--cpu-prof', `--cpu-prof-dir=${options.profile}`] }),
      },
    );
    const logins = await Promise.all(Array.from({ length: options.users }, () => bench.login(service.url)));
    const compared =
      options.compare === ''
        ? undefined
        : await bench.start(
            `${options.compare}/server.js`,
            { ...bench.env, ...bench.noLimits },
            { cores: SERVICE_CORE },
          );
    const subject: Subject = {
      bench,
      service,
      ...(compared === undefined
        ? {}
        : {
            compared,
            // Its own logins: another build may issue tokens this one would not accept, and the reverse.
            comparedTokens: (
              await Promise.all(Array.from({ length: options.users }, () => bench.login(compared.url)))
            ).map((s) => s.access_token as string),
          }),
      sessions: logins,
      tokens: logins.map((s) => s.access_token as string),
    };
    for (const [name, phase] of Object.entries(PHASES)) {
      if (options.only.length > 0 && !options.only.includes(name)) continue;
      const outcome = await phase(subject);
      results[name] = outcome.results;
      rows.push(...outcome.rows);
    }
    results.benchSeconds = round((performance.now() - started) / 1000);
    write(results, rows);
  } finally {
    await bench.close();
  }
}

/** <out>/results.json and results.md, and the table on stdout. */
function write(results: Record<string, unknown>, rows: Row[]): void {
  const footer =
    `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node ${process.version}; ${options.durationS} s runs, ` +
    `${options.connections} connections, ${options.rounds} round(s) (medians), LOG_LEVEL=${options.logLevel} ` +
    `(request lines to a pipe), metrics on, ${options.users} users' tokens in turn, ${n(options.records)} users for memory; ` +
    (canPin
      ? 'service and anchors pinned to core 0, load generator and Redis to core 1 (workers: all share both cores).'
      : 'no CPU pinning.');
  mkdirSync(options.out, { recursive: true });
  writeFileSync(join(options.out, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  const markdown = table(rows, footer);
  writeFileSync(join(options.out, 'results.md'), markdown);
  process.stdout.write(markdown);
  log(`wrote ${join(options.out, 'results.json')} and results.md in ${results.benchSeconds} s`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
