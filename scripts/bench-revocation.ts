/**
 * npx tsx scripts/bench-revocation.ts [--samples N] [--duration S]
 * How long a revocation takes to reach another instance, and what remembering revocations costs
 * `/auth/me`. Two service processes (src/server.ts through tsx) on one private redis-server, the WeChat
 * emulator and the load generator in this process, all on loopback:
 * - propagation: N times, log in on A, have B verify (and cache) the access token, log out on A, then
 *   ask B until it answers 401; the time from A's 204 to B's first 401 (B is asked back to back, about a
 *   millisecond apart, so that is the resolution), p50 and p99;
 * - throughput: autocannon on `/auth/me` with one live token, S seconds a round, three rounds each,
 *   alternating between B, which then remembers the N revocations and REMEMBERED more (published on the
 *   revocation channel as an ending would), and C, an instance under another key prefix, which hears of
 *   none: the same code on the same machine at the same time, so the ratio is what remembering costs.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { createEmulator } from '../src/emulator/index.js';
import { systemClock } from '../src/lib/index.js';
import { generatePrivateJwks } from '../src/tokens/index.js';
import { freePort, type ServiceProcess, startRedisServer, startService } from './lib/spawn.js';

const argument = (name: string, fallback: number) => {
  const at = process.argv.indexOf(name);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const SAMPLES = argument('--samples', 200);
const DURATION_S = argument('--duration', 10);
const REMEMBERED = 10_000;

const redis = await startRedisServer();
const emulator = createEmulator({ clock: systemClock });
await emulator.listen(0, '127.0.0.1');
const keysFile = join(mkdtempSync(join(tmpdir(), 'wxauth-bench-revocation-')), 'keys.json');
writeFileSync(keysFile, JSON.stringify(await generatePrivateJwks()), { mode: 0o600 });
const env = {
  NODE_ENV: 'development',
  HOST: '127.0.0.1',
  LOG_LEVEL: 'warn',
  REDIS_URL: redis.url,
  WECHAT_APPID: emulator.appid,
  WECHAT_SECRET: emulator.secret,
  WECHAT_API_BASE: emulator.url,
  JWT_SIGNING_KEYS_FILE: keysFile,
  // One issuer for both: by default it is each one's own http://localhost:<PORT>.
  PUBLIC_URL: 'http://wxauth.bench.invalid',
  RATE_LIMIT_LOGIN_PER_IP: '0',
  RATE_LIMIT_REFRESH_PER_IP: '0',
  RATE_LIMIT_REFRESH_PER_USER: '0',
  RATE_LIMIT_WECHAT_PER_IP: '0',
  RATE_LIMIT_WECHAT_PER_USER: '0',
};

async function instance(
  extra: Record<string, string> = {},
): Promise<{ url: string; process: ServiceProcess }> {
  const port = await freePort();
  const started = startService({ env: { ...env, ...extra, PORT: String(port) }, keep: 16_000 });
  const url = `http://127.0.0.1:${port}`;
  await started.healthy(url);
  return { url, process: started };
}

const [a, b] = [await instance(), await instance()];
// Its own revocation channel and log: it never hears of the revocations below.
const c = await instance({ REDIS_KEY_PREFIX: 'elsewhere:' });

async function login(): Promise<{ access_token: string; refresh_token: string }> {
  const res = await fetch(`${a.url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code: emulator.login().code }),
  });
  if (res.status !== 200) throw new Error(`login answered ${res.status}`);
  return (await res.json()) as { access_token: string; refresh_token: string };
}

const me = (url: string, token: string) =>
  fetch(`${url}/auth/me`, { headers: { Authorization: `Bearer ${token}` } }).then(async (res) => {
    await res.arrayBuffer();
    return res.status;
  });

async function throughput(url: string, token: string): Promise<number> {
  const result = await autocannon({
    url: `${url}/auth/me`,
    connections: 32,
    duration: DURATION_S,
    headers: { Authorization: `Bearer ${token}` },
  });
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`/auth/me: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return result.requests.average;
}

try {
  const live = await login();
  for (const { url } of [b, c]) {
    if ((await me(url, live.access_token)) !== 200) throw new Error(`${url} refused a fresh token`);
    await throughput(url, live.access_token); // warm-up
  }

  const propagation: number[] = [];
  for (let i = 0; i < SAMPLES; i += 1) {
    const session = await login();
    if ((await me(b.url, session.access_token)) !== 200) throw new Error('B refused a fresh token');
    const res = await fetch(`${a.url}/auth/logout`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${session.access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: session.refresh_token }),
    });
    if (res.status !== 204) throw new Error(`logout answered ${res.status}`);
    const ended = performance.now();
    for (;;) {
      const status = await me(b.url, session.access_token);
      if (status === 401) break;
      if (status !== 200) throw new Error(`B answered ${status}`);
      if (performance.now() - ended > 5000) throw new Error('B still accepts a revoked token after 5 s');
    }
    propagation.push(performance.now() - ended);
  }
  // As many more as an ending script would tell every instance of, in batches.
  const publisher = new Redis(redis.url);
  for (let i = 0; i < REMEMBERED; i += 500) {
    const ids = Array.from({ length: 500 }, (_, j) => `bench${String(i + j).padStart(11, '0')}`);
    await publisher.publish('wxauth:rv', `- ${ids.join(' ')}`);
  }
  await publisher.quit();

  const rounds = { remembering: [] as number[], none: [] as number[] };
  for (let round = 0; round < 3; round += 1) {
    rounds.none.push(await throughput(c.url, live.access_token));
    rounds.remembering.push(await throughput(b.url, live.access_token));
  }
  const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]!;
  const perSecond = (values: number[]) => values.map((v) => Math.round(v).toLocaleString('en')).join(', ');
  const [remembering, none] = [median(rounds.remembering), median(rounds.none)];

  propagation.sort((x, y) => x - y);
  const at = (q: number) =>
    propagation[Math.min(propagation.length - 1, Math.floor(q * propagation.length))]!;
  const ms = (value: number) => `${value.toFixed(2)} ms`;
  process.stdout.write(
    [
      '| measure | result |',
      '| --- | --- |',
      `| revocation, A's 204 to B's first 401 (${SAMPLES} logouts) | p50 ${ms(at(0.5))}, p99 ${ms(at(0.99))}, max ${ms(propagation.at(-1)!)} |`,
      `| \`/auth/me\`, 32 connections, ${DURATION_S} s rounds (medians) | ${Math.round(remembering).toLocaleString('en')} req/s remembering ${(SAMPLES + REMEMBERED).toLocaleString('en')} revoked sessions (${perSecond(rounds.remembering)}); ${Math.round(none).toLocaleString('en')} req/s remembering none (${perSecond(rounds.none)}): ${((remembering / none) * 100).toFixed(0)}% |`,
      '',
    ].join('\n'),
  );
} catch (error) {
  process.stderr.write(`bench-revocation: ${(error as Error).message}\n`);
  process.exitCode = 1;
} finally {
  await a.process.stop();
  await b.process.stop();
  await c.process.stop();
  await emulator.close();
  // The fixture's redis-server is not waited for: it dies with this process (its wrapper sees to that).
  void redis.stop();
  process.exit();
}
