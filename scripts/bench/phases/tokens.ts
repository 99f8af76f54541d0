import { performance } from 'node:perf_hooks';
import { systemClock } from '../../../src/lib/index.js';
import { createAccessTokens, loadKeySet } from '../../../src/tokens/index.js';
import { options } from '../options.js';
import { bearer, HEALTHZ, load } from '../traffic.js';
import { log, n, pct, round } from '../util.js';
import type { PhaseResult, Subject } from './types.js';

/**
 * /auth/me when the verification cache never has the token (every request a signature check), and in
 * this process: a signature check, and what a Bearer route does for a token it verified before.
 */
export async function tokens({ bench, service, sessions }: Subject): Promise<PhaseResult> {
  log('/auth/me without cache hits');
  const keys = await loadKeySet(bench.keysFile);
  // The service's own issuer, audience and a live session of its, read from a token it issued.
  const issued = JSON.parse(
    Buffer.from((sessions[0]!.access_token as string).split('.')[1]!, 'base64url').toString(),
  ) as { iss: string; aud: string; client_id: string; sid: string; sub: string };
  const tokenOptions = {
    keys,
    clock: systemClock,
    issuer: issued.iss,
    audience: issued.aud,
    clientId: issued.client_id,
    ttlS: 900,
    clockToleranceS: 0,
  };
  const minter = createAccessTokens(tokenOptions);
  const pool: string[] = [];
  for (let i = 0; i < (options.quick ? 20_000 : 60_000); i += 1)
    pool.push((await minter.issue(issued.sub, issued.sid)).token);
  const healthz = await load(service, HEALTHZ);
  const uncached = await load(service, bearer(pool));

  // A new copy of the token, as each request brings one.
  const sample = pool.slice(0, 2000);
  const timePerToken = async (check: (token: string) => unknown, rounds: number) => {
    const copies = Array.from({ length: rounds }, () => sample.map((token) => ` ${token}`.slice(1))).flat();
    const t0 = performance.now();
    for (const token of copies) {
      const result = check(token);
      if (result instanceof Promise) await result;
    }
    return round(((performance.now() - t0) * 1000) / copies.length, 2);
  };
  const uncachedVerifier = createAccessTokens({ ...tokenOptions, cacheSize: 0 });
  const cachingVerifier = createAccessTokens(tokenOptions);
  for (const token of sample) await cachingVerifier.verify(token);
  await timePerToken((token) => cachingVerifier.recall(token), 10); // warm-up
  const verifyUs = {
    uncached: round(await timePerToken((token) => uncachedVerifier.verify(token), 1), 1),
    cached: await timePerToken((token) => cachingVerifier.recall(token), 50),
    sign: await timePerToken(() => minter.issue(issued.sub, issued.sid), 1),
  };
  const failed = uncached.non2xx + uncached.errors;
  return {
    results: {
      meWithoutCacheHits: uncached,
      healthzAlongside: healthz,
      verifyUs,
      algorithm: keys.signing.alg,
    },
    rows: [
      {
        measure: '`/auth/me`, no token ever found in the cache',
        result: `${n(uncached.rps)} req/s (${pct(uncached.rps / healthz.rps)} of /healthz), p99 ${uncached.p99Ms} ms, ${uncached.cpuUs} µs of CPU per request${failed > 0 ? ` (${failed} failed)` : ''}`,
      },
      {
        measure: `Access token (${keys.signing.alg})`,
        result: `verification ${verifyUs.uncached} µs; ${verifyUs.cached} µs to recall a token verified before; signing ${verifyUs.sign} µs`,
      },
    ],
  };
}
