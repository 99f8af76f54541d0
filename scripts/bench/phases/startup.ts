import { SERVICE_CORE } from '../context.js';
import { options } from '../options.js';
import { bearer, load } from '../traffic.js';
import { log, median, round } from '../util.js';
import type { PhaseResult, Subject } from './types.js';

/**
 * The compiled service (node dist/server.js, as `npm start`) against the same sources through tsx (as
 * `npm run dev`): time from the spawn to the first 200 from /healthz, and resident memory after a
 * warm-up of /auth/me. Alternated, medians.
 */
export async function startup({ bench, tokens }: Subject): Promise<PhaseResult> {
  log('start-up: compiled and tsx');
  const modes = { compiled: `${bench.dist}/server.js`, tsx: 'src/server.ts' };
  const figures: Record<keyof typeof modes, { startMs: number[]; rssMiB: number[] }> = {
    compiled: { startMs: [], rssMiB: [] },
    tsx: { startMs: [], rssMiB: [] },
  };
  for (let i = 0; i < (options.quick ? 1 : 3); i += 1) {
    for (const mode of Object.keys(modes) as (keyof typeof modes)[]) {
      const service = await bench.start(
        modes[mode],
        { ...bench.env, ...bench.noLimits },
        { cores: SERVICE_CORE },
      );
      await load(service, bearer(tokens), options.quick ? 2 : 5);
      figures[mode].startMs.push(round(service.startMs));
      figures[mode].rssMiB.push(round(service.process.rssBytes() / 1048576, 1));
      await service.stop();
    }
  }
  const m = (mode: keyof typeof modes) => ({
    startMs: median(figures[mode].startMs),
    rssMiB: median(figures[mode].rssMiB),
  });
  const compiled = m('compiled');
  const tsx = m('tsx');
  return {
    results: { compiled, tsx, runs: figures },
    rows: [
      {
        measure: 'Start-up to the first `/healthz` 200; RSS after warm-up',
        result: `\`node dist/server.js\` ${compiled.startMs} ms, ${compiled.rssMiB} MiB; through tsx ${tsx.startMs} ms, ${tsx.rssMiB} MiB`,
      },
    ],
  };
}
