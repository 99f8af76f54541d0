/**
 * Load test: a login / refresh / me mix against the real server process (src/server.ts) with a private
 * redis-server and the built-in emulator, all on loopback. Reports requests, errors (must be 0) and
 * the server's memory growth.
 *   npm run load                  60 seconds, 16 virtual users
 *   npm run load -- --seconds 10 --users 8
 *   npm run load -- --stall 12      Redis sleeps 12 s (DEBUG SLEEP) a third of the way in
 * Rate limits are off for the run (every virtual user comes from 127.0.0.1). A 503 is answered as the
 * client SDK does: the same request again after Retry-After; those retries are counted, not errors. After
 * a stall longer than REFRESH_REUSE_GRACE (10 s), every session must still be alive and the server
 * must have raised no refresh_token_reuse alert.
 */
import { createConnection } from 'node:net';
import { startRedisServer, startService } from './lib/spawn.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const seconds = option('seconds', 60);
const users = option('users', 16);
const stallSeconds = option('stall', 0);

async function metric(service: string, name: string): Promise<number> {
  const text = await (await fetch(`${service}/metrics`)).text();
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return match ? Number(match[1]) : Number.NaN;
}

const redis = await startRedisServer({ args: ['--enable-debug-command', 'local'] });
const server = startService({
  env: {
    PORT: '0',
    LOG_LEVEL: 'warn',
    REDIS_URL: redis.url,
    // The service's own emulator beside a real Redis: asked for, as it is never taken by default.
    WECHAT_EMULATOR: '1',
    RATE_LIMIT_LOGIN_PER_IP: '0',
    RATE_LIMIT_REFRESH_PER_IP: '0',
    RATE_LIMIT_REFRESH_PER_USER: '0',
    RATE_LIMIT_WECHAT_PER_IP: '0',
    RATE_LIMIT_WECHAT_PER_USER: '0',
  },
  keep: 16_000,
});
server.child.stderr!.pipe(process.stderr);
// Also when this script dies of an error outside the try below.
process.on('exit', () => server.child.kill('SIGKILL'));
let reuseAlerts = 0;
server.child.stdout!.on('data', (chunk: Buffer) => {
  reuseAlerts += chunk.toString().split('"event":"refresh_token_reuse"').length - 1;
});

try {
  const [, service, emulator] = await server.match(
    /listening on (http:\/\/localhost:\d+), with the built-in WeChat emulator on (http:\/\/127\.0\.0\.1:\d+)/,
  );
  const json = { 'content-type': 'application/json' };
  const counts = { login: 0, refresh: 0, me: 0, logout: 0 };
  const errors: string[] = [];

  let retriedAfter503 = 0;
  async function call(kind: keyof typeof counts, url: string, init: RequestInit, expected: number) {
    counts[kind] += 1;
    for (let attempt = 1; ; attempt += 1) {
      const res = await fetch(url, init);
      const body = await res.text();
      if (res.status === 503 && attempt < 60) {
        retriedAfter503 += 1;
        await new Promise((r) => setTimeout(r, Number(res.headers.get('retry-after') ?? 1) * 1000));
        continue;
      }
      if (res.status !== expected) errors.push(`${kind} ${res.status} ${body.slice(0, 120)}`);
      return body ? (JSON.parse(body) as Record<string, string>) : {};
    }
  }

  // The emulator serves several mini-programs (zeroConfigApps()): a login names its app, the first.
  const { apps } = (await (await fetch(`${emulator}/__emulator/apps`)).json()) as {
    apps: { appid: string }[];
  };
  const appid = apps[0]!.appid;

  async function login() {
    const { code } = (await (
      await fetch(`${emulator}/__emulator/login`, { method: 'POST', body: JSON.stringify({ appid }) })
    ).json()) as { code: string };
    return call(
      'login',
      `${service}/auth/login`,
      { method: 'POST', headers: json, body: JSON.stringify({ code, appid }) },
      200,
    );
  }

  async function virtualUser(deadline: number) {
    let tokens = await login();
    let round = 0;
    while (Date.now() < deadline) {
      round += 1;
      const auth = { authorization: `Bearer ${tokens.access_token}` };
      for (let i = 0; i < 8; i++) await call('me', `${service}/auth/me`, { headers: auth }, 200);
      tokens = await call(
        'refresh',
        `${service}/auth/refresh`,
        { method: 'POST', headers: json, body: JSON.stringify({ refresh_token: tokens.refresh_token }) },
        200,
      );
      if (round % 10 === 0) {
        const headers = { ...json, authorization: `Bearer ${tokens.access_token}` };
        await call(
          'logout',
          `${service}/auth/logout`,
          { method: 'POST', headers, body: JSON.stringify({ refresh_token: tokens.refresh_token }) },
          204,
        );
        tokens = await login();
      }
    }
  }

  // Warm up, then measure from a settled heap.
  await Promise.all(Array.from({ length: users }, () => virtualUser(Date.now() + 3000)));
  for (const key of Object.keys(counts) as (keyof typeof counts)[]) counts[key] = 0;
  const rssBefore = await metric(service!, 'process_resident_memory_bytes');
  const heapBefore = await metric(service!, 'nodejs_heap_size_used_bytes');
  const started = Date.now();
  // Heap samples through the run: a leak climbs from sample to sample, garbage saw-tooths.
  const samples: number[] = [];
  const sampler = setInterval(async () => {
    samples.push(await metric(service!, 'nodejs_heap_size_used_bytes'));
  }, 5000);
  const stall =
    stallSeconds > 0
      ? setTimeout(
          () => {
            // Fire and forget: the answer comes when Redis wakes.
            const socket = createConnection(redis.port, '127.0.0.1');
            socket.on('error', () => undefined);
            socket.end(`DEBUG SLEEP ${stallSeconds}\r\n`);
          },
          (seconds * 1000) / 3,
        )
      : undefined;
  await Promise.all(Array.from({ length: users }, () => virtualUser(started + seconds * 1000)));
  clearTimeout(stall);
  clearInterval(sampler);
  const elapsed = (Date.now() - started) / 1000;
  // Idle a moment so the collector can catch up before the final reading.
  await new Promise((r) => setTimeout(r, 3000));
  const rssAfter = await metric(service!, 'process_resident_memory_bytes');
  const heapAfter = await metric(service!, 'nodejs_heap_size_used_bytes');
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const mb = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  const report = {
    seconds: Math.round(elapsed),
    users,
    requests: counts,
    total,
    requestsPerSecond: Math.round(total / elapsed),
    errors: errors.length,
    ...(stallSeconds > 0 ? { stallSeconds, retriedAfter503, refreshTokenReuseAlerts: reuseAlerts } : {}),
    rss: { before: mb(rssBefore), after: mb(rssAfter), growth: mb(rssAfter - rssBefore) },
    heapUsed: { before: mb(heapBefore), after: mb(heapAfter), growth: mb(heapAfter - heapBefore) },
    heapSamples: samples.map(mb),
  };
  console.log(JSON.stringify(report, null, 2));
  if (reuseAlerts > 0) {
    console.error(`${reuseAlerts} refresh_token_reuse alerts: sessions were revoked`);
    process.exitCode = 1;
  }
  if (errors.length > 0) {
    console.error(errors.slice(0, 10).join('\n'));
    process.exitCode = 1;
  }
} finally {
  await server.stop();
  await redis.stop();
}
