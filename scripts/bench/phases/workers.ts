import { cpus } from 'node:os';
import type { Request } from 'autocannon';
import { pin } from '../../lib/spawn.js';
import { LOAD_CORE } from '../context.js';
import { options } from '../options.js';
import { load, type Run } from '../traffic.js';
import { log, n } from '../util.js';
import type { PhaseResult, Subject } from './types.js';

/**
 * /auth/me with 1 and 2 workers (dist/workers.js, as `npm run start:workers`); the load generator on
 * every core too, Redis still on its own.
 */
export async function workers({ bench, tokens }: Subject): Promise<PhaseResult> {
  log('workers');
  const all = Array.from({ length: cpus().length }, (_, i) => i).join(',');
  pin(process.pid, all);
  // Also with 10 requests pipelined per connection: it makes autocannon's own work per request far
  // smaller, so that on a machine of few cores the workers, not the load generator, are what runs out.
  const plain: Record<string, Run> = {};
  const pipelined: Record<string, Run> = {};
  try {
    for (const count of [1, 2]) {
      const cluster = await bench.start(`${bench.dist}/workers.js`, {
        ...bench.env,
        ...bench.noLimits,
        WORKERS: String(count),
      });
      // One token, sent as is: autocannon builds the request once instead of once per request.
      const fixed: Request = {
        method: 'GET',
        path: '/auth/me',
        headers: { authorization: `Bearer ${tokens[0]!}` },
      };
      await load(cluster, fixed, 2);
      plain[count] = await load(cluster, fixed);
      pipelined[count] = await load(cluster, fixed, options.durationS, 10);
      log(`${count} worker(s): /auth/me ${plain[count]!.rps} req/s, ${pipelined[count]!.rps} pipelined`);
      await cluster.stop();
    }
  } finally {
    pin(process.pid, LOAD_CORE);
  }
  const [w1, w2, p1, p2] = [plain['1']!, plain['2']!, pipelined['1']!, pipelined['2']!];
  const cores = cpus().length;
  return {
    results: { workers: plain, workersPipelined: pipelined },
    rows: [
      {
        measure: '`/auth/me`, 1 worker → 2 workers (`npm run start:workers`)',
        result:
          `${n(w1.rps)} → ${n(w2.rps)} req/s (×${(w2.rps / w1.rps).toFixed(2)}); ` +
          `10 requests pipelined per connection: ${n(p1.rps)} → ${n(p2.rps)} req/s (×${(p2.rps / p1.rps).toFixed(2)})` +
          // Workers and the load generator share the cores: each worker gets what autocannon leaves.
          (cores <= 2
            ? `; ${cores} cores here, shared with the load generator, which without pipelining needs a core of its own`
            : ''),
      },
    ],
  };
}
