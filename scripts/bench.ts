/**
 * Benchmarks, all on loopback, in one command:
 *   npm run bench                   about 4 minutes: 10 s runs, 5 rounds, 100,000 users
 *   npm run bench -- --quick        a smoke run: 3 s runs, 1 round, 10,000 users
 *   options: --duration S  --connections N  --rounds N  --records N  --log-level L  --out DIR
 *
 * The service runs as its own process (src/server.ts, as `npm start` runs it) against a private
 * redis-server, with the WeChat emulator in this process. Load comes from autocannon in this process.
 * With taskset and two cores or more, the service is pinned to core 0 and this process (autocannon, the
 * emulator, Redis) to core 1, so that the load generator does not take the service's core.
 *
 * Measured: throughput and p50/p99 of GET /auth/me against the bare GET /healthz of the same service in
 * the same run (alternating, --rounds times each, medians); /auth/me when no token is found in the
 * verification cache; login and refresh throughput; /auth/me with 1 and 2 workers (src/workers.ts);
 * Redis commands and round trips per operation; Redis bytes per user record and per session from
 * --records users. Writes <out>/results.json and <out>/results.md and prints the table.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import autocannon, { type Request } from 'autocannon';
import type { Redis } from 'ioredis';
import { createAtRestCipher, parseAtRestKeys } from '../src/crypto/index.js';
import { createEmulator } from '../src/emulator/index.js';
import { systemClock } from '../src/lib/index.js';
import { connectRedis, EncryptingStore, RedisStore, type SessionStore } from '../src/store/index.js';
import {
  createAccessTokens,
  generatePrivateJwks,
  hashRefreshToken,
  loadKeySet,
  mintRefreshToken,
} from '../src/tokens/index.js';
import { freePort, type RedisServer, startRedisServer } from '../test/setup/redis.js';

const ROOT = new URL('../', import.meta.url).pathname;
const args = process.argv.slice(2);
const quick = args.includes('--quick');
function option(name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}
function textOption(name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
}
const DURATION_S = option('duration', quick ? 3 : 10);
const CONNECTIONS = option('connections', 32);
const ROUNDS = option('rounds', quick ? 1 : 5);
const RECORDS = option('records', quick ? 10_000 : 100_000);
const LOG_LEVEL = textOption('log-level', 'info');
const OUT = textOption('out', join(ROOT, 'bench-results'));

const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const round = (value: number, digits = 0) => Number(value.toFixed(digits));

// ---------------------------------------------------------------------------------------------- cores

const pinning = (() => {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return availableParallelism() >= 2;
  } catch {
    return false;
  }
})();
/** Pins this process (every thread) to `cores`, e.g. '1' or '0,1'. */
function pinSelf(cores: string): void {
  if (pinning) execFileSync('taskset', ['-a', '-p', '-c', cores, String(process.pid)], { stdio: 'ignore' });
}

// ------------------------------------------------------------------------------------------- services

interface Service {
  url: string;
  /** CPU time the process (not its children) has used, seconds; NaN where /proc is missing. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/** Starts `entry` (src/server.ts or src/workers.ts) as its own process and waits for GET /healthz. */
async function startService(entry: string, env: Record<string, string>, core?: string): Promise<Service> {
  const port = await freePort();
  const node = [process.execPath, '--import', 'tsx', entry];
  const command = core !== undefined && pinning ? ['taskset', '-c', core, ...node] : node;
  const child: ChildProcess = spawn(command[0]!, command.slice(1), {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${entry} exited at start:\n${stderr}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${entry} did not answer /healthz:\n${stderr}`);
    await sleep(100);
  }
  return {
    url,
    cpuSeconds() {
      try {
        const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
        return (Number(fields[11]) + Number(fields[12])) / 100;
      } catch {
        return Number.NaN;
      }
    },
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

// ----------------------------------------------------------------------------------------------- load

interface Run {
  rps: number;
  requests: number;
  non2xx: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  /** The share of one core the service's process used during the run (1: all of it). */
  serviceCpu?: number;
}

/** One autocannon run; p50/p99 from every response's own time (autocannon rounds to whole ms). */
async function load(
  service: Service,
  request: Request,
  durationS = DURATION_S,
  pipelining = 1,
): Promise<Run> {
  const { url } = service;
  const times: number[] = [];
  const cpuBefore = service.cpuSeconds();
  const startedAt = performance.now();
  const instance = autocannon({
    url,
    connections: CONNECTIONS,
    pipelining,
    duration: durationS,
    requests: [request],
  });
  instance.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => {
    times.push(ms);
  });
  const result = await instance;
  const serviceCpu = (service.cpuSeconds() - cpuBefore) / ((performance.now() - startedAt) / 1000);
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
  };
}

/**
 * Each request presents the next token of `tokens` in turn (autocannon clears a connection's context
 * after each request of a one-request sequence, so there is no per-connection token to keep).
 */
function bearer(tokens: string[]): Request {
  let next = 0;
  return {
    method: 'GET',
    path: '/auth/me',
    setupRequest(request) {
      const token = tokens[next++ % tokens.length]!;
      return { ...request, headers: { authorization: `Bearer ${token}` } };
    },
  };
}

const HEALTHZ: Request = { method: 'GET', path: '/healthz', setupRequest: (request) => ({ ...request }) };

async function json(response: Response): Promise<Record<string, unknown>> {
  const body = (await response.json()) as Record<string, unknown>;
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${JSON.stringify(body)}`);
  return body;
}

function post(url: string, body: unknown, token?: string): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
}

// ---------------------------------------------------------------------------------------- Redis cost

interface RedisCost {
  roundTrips: number;
  commands: number;
  sent: string[];
}

async function redisCost(redis: RedisServer, run: () => Promise<unknown>): Promise<RedisCost> {
  const before = await redis.commandCount();
  const monitor = await redis.monitor();
  await run();
  const sent = await monitor.stop();
  const commands = (await redis.commandCount()) - before;
  return { roundTrips: sent.length, commands, sent };
}

// -------------------------------------------------------------------------------------------- memory

interface MemoryFigures {
  users: number;
  userRecordBytes: number;
  userRecordInClearBytes: number;
  sessionBytes: number;
  familyIndexBytes: number;
  perUserWithOneSessionAllIn: number;
  perExtraSessionAllIn: number;
  encodings: Record<string, string>;
}

async function usedMemory(admin: Redis): Promise<number> {
  return Number(/^used_memory:(\d+)/m.exec(await admin.info('memory'))![1]);
}

/** Mean MEMORY USAGE over up to 2,000 of `keys`. */
async function meanUsage(admin: Redis, keys: string[]): Promise<number> {
  const sample = keys.filter((_, i) => i % Math.max(1, Math.floor(keys.length / 2000)) === 0).slice(0, 2000);
  const pipeline = admin.pipeline();
  for (const key of sample) pipeline.memory('USAGE', key, 'SAMPLES', '0');
  const sizes = (await pipeline.exec())!.map(([, size]) => Number(size));
  return sizes.reduce((a, b) => a + b, 0) / sizes.length;
}

/** A 28-character openid like WeChat's. */
function openid(i: number): string {
  return `oBench${String(i).padStart(8, '0')}${Math.random().toString(36).slice(2, 16).padEnd(14, 'x')}`;
}

async function inBatches<T>(items: T[], run: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += 2000) await Promise.all(items.slice(i, i + 2000).map(run));
}

/**
 * Writes `count` users through the real store (Lua scripts included), each with one login and one
 * rotation (a session's steady state), session_key sealed as in production and a unionid; then a second
 * session for each. Redis's own per-key overhead (dictionary and expiry entries) is in the all-in
 * figures (used_memory deltas), not in MEMORY USAGE.
 */
async function measureMemory(count: number, atRestKeys: string): Promise<MemoryFigures> {
  const server = await startRedisServer();
  const client = connectRedis({ url: server.url, commandTimeoutMs: 10_000 });
  const admin = connectRedis({ url: server.url, commandTimeoutMs: 10_000 }) as Redis;
  await Promise.all([once(client, 'ready'), once(admin, 'ready')]);
  const redisStore = new RedisStore(client);
  const store: SessionStore = new EncryptingStore(
    redisStore,
    createAtRestCipher(parseAtRestKeys(atRestKeys)),
  );
  try {
    const now = Date.now();
    /** A login as the service writes it: WeChat's session_key is 16 random bytes, base64. */
    const loginOf = (id: string, minted: ReturnType<typeof mintRefreshToken>) => ({
      openid: id,
      sessionKey: randomBytes(16).toString('base64'),
      unionid: `oUnion${id.slice(6)}`,
      familyId: minted.familyId,
      tokenHash: minted.hash,
      nowMs: now,
      refreshTtlS: 2_592_000,
      maxSessions: 50,
    });
    const session = async (id: string) => {
      const minted = mintRefreshToken(id);
      await store.recordLogin(loginOf(id, minted));
      const seed = randomBytes(32).toString('base64url');
      await store.rotateRefresh({
        openid: id,
        familyId: minted.familyId,
        presentedHash: minted.hash,
        nextHash: hashRefreshToken(`${minted.token}.next`),
        successorSeed: seed,
        nowMs: now + 1000,
        refreshTtlS: 2_592_000,
        graceS: 10,
      });
      return minted.familyId;
    };
    const ids = Array.from({ length: count }, (_, i) => openid(i));
    const m0 = await usedMemory(admin);
    await inBatches(ids, session);
    const m1 = await usedMemory(admin);
    const prefix = 'wxauth:';
    const userKeys = ids.map((id) => `${prefix}{${id}}:u`);
    const indexKeys = ids.map((id) => `${prefix}{${id}}:fs`);
    const familyKeys: string[] = [];
    // Family keys as the store names them: the family id is in the token, not derivable from the user.
    for (const id of ids) {
      const [family] = await admin.hkeys(`${prefix}{${id}}:fs`);
      familyKeys.push(`${prefix}{${id}}:f:${family}`);
      if (familyKeys.length >= 2000) break;
    }
    const figures = {
      userRecordBytes: await meanUsage(admin, userKeys),
      sessionBytes: await meanUsage(admin, familyKeys),
      familyIndexBytes: await meanUsage(admin, indexKeys),
    };
    const encodings = {
      user: String(await admin.object('ENCODING', userKeys[0]!)),
      session: String(await admin.object('ENCODING', familyKeys[0]!)),
      familyIndex: String(await admin.object('ENCODING', indexKeys[0]!)),
    };
    await inBatches(ids, session);
    const m2 = await usedMemory(admin);

    // The same user record with the session_key in clear (no SESSION_KEY_ENCRYPTION_KEYS).
    const clearIds = ids.slice(0, Math.min(2000, count)).map((id) => `${id.slice(0, 27)}c`);
    await inBatches(clearIds, (id) => redisStore.recordLogin(loginOf(id, mintRefreshToken(id))));
    return {
      users: count,
      userRecordBytes: round(figures.userRecordBytes),
      userRecordInClearBytes: round(
        await meanUsage(
          admin,
          clearIds.map((id) => `${prefix}{${id}}:u`),
        ),
      ),
      sessionBytes: round(figures.sessionBytes),
      familyIndexBytes: round(figures.familyIndexBytes),
      perUserWithOneSessionAllIn: round((m1 - m0) / count),
      perExtraSessionAllIn: round((m2 - m1) / count),
      encodings,
    };
  } finally {
    await store.close();
    admin.disconnect();
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const started = performance.now();
  pinSelf('1');
  log(
    `${DURATION_S} s runs, ${CONNECTIONS} connections, ${ROUNDS} round(s), ${RECORDS} users; ` +
      (pinning
        ? 'service on core 0, load generator on core 1'
        : 'no CPU pinning (taskset or a 2nd core missing)'),
  );
  const redis = await startRedisServer();
  const emulator = createEmulator({ clock: systemClock });
  await emulator.listen(0, '127.0.0.1');
  const dir = mkdtempSync(join(tmpdir(), 'wxauth-bench-'));
  const keysFile = join(dir, 'keys.json');
  writeFileSync(keysFile, JSON.stringify(await generatePrivateJwks()), { mode: 0o600 });
  // An 8-character key id, as `npm run keys -- --at-rest` makes by default: it is part of every sealed key.
  const atRestKeys = `20261123:${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')}`;
  const env: Record<string, string> = {
    NODE_ENV: 'development',
    HOST: '127.0.0.1',
    LOG_LEVEL,
    REDIS_URL: redis.url,
    WECHAT_APPID: emulator.appid,
    WECHAT_SECRET: emulator.secret,
    WECHAT_API_BASE: emulator.url,
    JWT_SIGNING_KEYS_FILE: keysFile,
    SESSION_KEY_ENCRYPTION_KEYS: atRestKeys,
  };
  const noLimits = {
    RATE_LIMIT_LOGIN_PER_IP: '0',
    RATE_LIMIT_REFRESH_PER_IP: '0',
    RATE_LIMIT_REFRESH_PER_USER: '0',
    RATE_LIMIT_WECHAT_PER_IP: '0',
    RATE_LIMIT_WECHAT_PER_USER: '0',
  };
  const services: Service[] = [];
  try {
    const service = await startService('src/server.ts', { ...env, ...noLimits }, '0');
    services.push(service);
    const { url } = service;

    /** A wx.login() on the emulator and POST /auth/login. */
    const loginUser = async (user?: string) => {
      const { code } = emulator.login(user);
      return json(await post(`${url}/auth/login`, { code }));
    };
    const sessions = await Promise.all(Array.from({ length: CONNECTIONS }, () => loginUser()));
    const tokens = sessions.map((s) => s.access_token as string);

    // -------- /healthz against /auth/me, alternating
    log('warm-up');
    await load(service, HEALTHZ, quick ? 2 : 5);
    await load(service, bearer(tokens), quick ? 2 : 5);
    const healthz: Run[] = [];
    const me: Run[] = [];
    for (let r = 1; r <= ROUNDS; r += 1) {
      // Each round in the other order, so that a drift of the machine's speed favours neither route.
      if (r % 2) {
        healthz.push(await load(service, HEALTHZ));
        me.push(await load(service, bearer(tokens)));
      } else {
        me.push(await load(service, bearer(tokens)));
        healthz.push(await load(service, HEALTHZ));
      }
      log(`round ${r}: /healthz ${healthz.at(-1)!.rps} req/s, /auth/me ${me.at(-1)!.rps} req/s`);
    }

    // -------- /auth/me when the verification cache never has the token
    log('/auth/me without cache hits');
    const keys = await loadKeySet(keysFile);
    const tokenOptions = {
      keys,
      clock: systemClock,
      issuer: 'wxauth',
      audience: 'wxauth',
      ttlS: 900,
      clockToleranceS: 0,
    };
    const minter = createAccessTokens(tokenOptions);
    const poolSize = quick ? 20_000 : 60_000;
    const pool: string[] = [];
    for (let i = 0; i < poolSize; i += 1)
      pool.push((await minter.issue(sessions[0]!.openid as string)).token);
    const uncached = await load(service, bearer(pool));

    // -------- verification cost in this process: a signature check, and what a Bearer route does for
    // a token it verified before (recall, given a new copy of the token as each request brings one)
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
    };

    // -------- login and refresh
    log('login and refresh');
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
    const refreshTokens = (await Promise.all(users.slice(0, CONNECTIONS * 2).map((u) => loginUser(u)))).map(
      (s) => s.refresh_token as string,
    );
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
        const token = freeTokens.shift();
        if (token === undefined) throw new Error('more refreshes in flight than refresh tokens');
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

    // -------- Redis per operation
    log('Redis commands per operation');
    const costs = async (base: string) => {
      const user = emulator.createUser().openid;
      // Warm: every script loaded on the service's connection, so what is counted is the steady state.
      let s = await loginUser(user);
      s = await json(await post(`${base}/auth/refresh`, { refresh_token: s.refresh_token }));
      await post(`${base}/auth/logout`, { refresh_token: s.refresh_token }, s.access_token as string);
      await post(`${base}/auth/logout`, { all: true }, s.access_token as string);
      s = await loginUser(user);
      const token = s.access_token as string;
      const result: Record<string, RedisCost> = {};
      result.login = await redisCost(redis, async () => {
        s = await json(await post(`${base}/auth/login`, { code: emulator.login(user).code }));
      });
      result.refresh = await redisCost(redis, async () => {
        s = await json(await post(`${base}/auth/refresh`, { refresh_token: s.refresh_token }));
      });
      result.me = await redisCost(redis, async () =>
        json(await fetch(`${base}/auth/me`, { headers: { authorization: `Bearer ${s.access_token}` } })),
      );
      const payload = emulator.encrypt(user, 'raw', { step: 1 });
      result.decrypt = await redisCost(redis, async () =>
        json(await post(`${base}/wechat/decrypt`, payload, s.access_token as string)),
      );
      result.logout = await redisCost(redis, async () =>
        post(`${base}/auth/logout`, { refresh_token: s.refresh_token }, s.access_token as string),
      );
      result.logoutAll = await redisCost(redis, async () =>
        post(`${base}/auth/logout`, { all: true }, token),
      );
      return result;
    };
    const perOp = await costs(url);
    const limited = await startService('src/server.ts', env, '0');
    services.push(limited);
    const perOpWithLimits = await costs(limited.url);
    await limited.stop();
    await service.stop();

    // -------- every core
    log('workers');
    pinSelf(Array.from({ length: cpus().length }, (_, i) => i).join(','));
    // Also with 10 requests pipelined per connection: it makes autocannon's own work per request far
    // smaller, so that on a machine of few cores the workers, not the load generator, are what runs out.
    const workers: Record<string, Run> = {};
    const workersPipelined: Record<string, Run> = {};
    for (const count of [1, 2]) {
      const cluster = await startService('src/workers.ts', { ...env, ...noLimits, WORKERS: String(count) });
      services.push(cluster);
      // One token, sent as is: autocannon builds the request once instead of once per request.
      const fixed: Request = {
        method: 'GET',
        path: '/auth/me',
        headers: { authorization: `Bearer ${tokens[0]!}` },
      };
      await load(cluster, fixed, 2);
      workers[count] = await load(cluster, fixed);
      workersPipelined[count] = await load(cluster, fixed, DURATION_S, 10);
      log(
        `${count} worker(s): /auth/me ${workers[count]!.rps} req/s, ${workersPipelined[count]!.rps} pipelined`,
      );
      await cluster.stop();
    }

    // -------- memory
    log(`Redis memory: ${RECORDS} users`);
    const memory = await measureMemory(RECORDS, atRestKeys);

    const medianHealthz = {
      rps: median(healthz.map((r) => r.rps)),
      p50Ms: median(healthz.map((r) => r.p50Ms)),
      p99Ms: median(healthz.map((r) => r.p99Ms)),
      serviceCpu: median(healthz.map((r) => r.serviceCpu ?? Number.NaN)),
    };
    const medianMe = {
      rps: median(me.map((r) => r.rps)),
      p50Ms: median(me.map((r) => r.p50Ms)),
      p99Ms: median(me.map((r) => r.p99Ms)),
      serviceCpu: median(me.map((r) => r.serviceCpu ?? Number.NaN)),
    };
    const results = {
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, pinned: pinning },
      settings: {
        durationS: DURATION_S,
        connections: CONNECTIONS,
        rounds: ROUNDS,
        records: RECORDS,
        logLevel: LOG_LEVEL,
      },
      healthz: { median: medianHealthz, runs: healthz },
      me: { median: medianMe, runs: me },
      ratios: {
        meThroughputOfHealthz: round(medianMe.rps / medianHealthz.rps, 3),
        meP99OverHealthz: round(medianMe.p99Ms / medianHealthz.p99Ms, 3),
        perRoundThroughput: me.map((r, i) => round(r.rps / healthz[i]!.rps, 3)),
        perRoundP99: me.map((r, i) => round(r.p99Ms / healthz[i]!.p99Ms, 3)),
      },
      meWithoutCacheHits: uncached,
      verifyUs,
      login,
      refresh,
      workers,
      workersPipelined,
      redisPerOperation: perOp,
      redisPerOperationWithDefaultRateLimits: perOpWithLimits,
      memory,
      benchSeconds: round((performance.now() - started) / 1000),
    };
    mkdirSync(OUT, { recursive: true });
    writeFileSync(join(OUT, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
    const markdown = table(results);
    writeFileSync(join(OUT, 'results.md'), markdown);
    process.stdout.write(markdown);
    log(`wrote ${join(OUT, 'results.json')} and results.md in ${results.benchSeconds} s`);
  } finally {
    for (const service of services) await service.stop();
    await emulator.close();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------------------------------- report

type Results = {
  machine: { cpus: number; model: string | undefined; node: string; pinned: boolean };
  settings: { durationS: number; connections: number; rounds: number; records: number; logLevel: string };
  healthz: { median: { rps: number; p50Ms: number; p99Ms: number; serviceCpu: number } };
  me: { median: { rps: number; p50Ms: number; p99Ms: number; serviceCpu: number } };
  ratios: { meThroughputOfHealthz: number; meP99OverHealthz: number; perRoundThroughput: number[] };
  meWithoutCacheHits: Run;
  verifyUs: { uncached: number; cached: number };
  login: Run;
  refresh: Run;
  workers: Record<string, Run>;
  /** The same with 10 requests pipelined per connection. */
  workersPipelined: Record<string, Run>;
  redisPerOperation: Record<string, RedisCost>;
  redisPerOperationWithDefaultRateLimits: Record<string, RedisCost>;
  memory: MemoryFigures;
};

function table(r: Results): string {
  const n = (value: number) => value.toLocaleString('en-US');
  const pct = (value: number) => `${(value * 100).toFixed(0)}%`;
  const check = (ok: boolean) => (ok ? 'met' : '**missed**');
  const rows: string[][] = [];
  const row = (...cells: string[]) => rows.push(cells);
  const cpu = (run: { serviceCpu?: number }) =>
    run.serviceCpu === undefined || Number.isNaN(run.serviceCpu)
      ? ''
      : `, service at ${pct(run.serviceCpu)} of its core`;
  const errors = (run: Run) => (run.non2xx + run.errors > 0 ? ` (${run.non2xx + run.errors} failed)` : '');

  row(
    '`GET /healthz` (bare route), 1 core',
    `${n(r.healthz.median.rps)} req/s, p50 ${r.healthz.median.p50Ms} ms, p99 ${r.healthz.median.p99Ms} ms${cpu(r.healthz.median)}`,
    '',
    '',
  );
  row(
    '`GET /auth/me`, 1 core',
    `${n(r.me.median.rps)} req/s, p50 ${r.me.median.p50Ms} ms, p99 ${r.me.median.p99Ms} ms${cpu(r.me.median)}`,
    '',
    '',
  );
  row(
    '`/auth/me` throughput / `/healthz`',
    `${pct(r.ratios.meThroughputOfHealthz)} (rounds: ${r.ratios.perRoundThroughput.map(pct).join(', ')})`,
    '≥ 90%',
    check(r.ratios.meThroughputOfHealthz >= 0.9),
  );
  row(
    `\`/auth/me\` p99 / \`/healthz\` p99, ${r.settings.connections} connections`,
    `${r.ratios.meP99OverHealthz.toFixed(2)}×`,
    '≤ 1.2×',
    check(r.ratios.meP99OverHealthz <= 1.2),
  );
  row(
    '`/auth/me`, no token ever found in the cache',
    `${n(r.meWithoutCacheHits.rps)} req/s (${pct(r.meWithoutCacheHits.rps / r.healthz.median.rps)} of /healthz), p99 ${r.meWithoutCacheHits.p99Ms} ms${errors(r.meWithoutCacheHits)}`,
    '',
    '',
  );
  row(
    'Access-token verification',
    `${r.verifyUs.uncached} µs; ${r.verifyUs.cached} µs to recall a token verified before`,
    '',
    '',
  );
  row(
    '`POST /auth/login` (emulator)',
    `${n(r.login.rps)} req/s, p99 ${r.login.p99Ms} ms${cpu(r.login)}${errors(r.login)}`,
    '',
    '',
  );
  row(
    '`POST /auth/refresh`',
    `${n(r.refresh.rps)} req/s, p99 ${r.refresh.p99Ms} ms${cpu(r.refresh)}${errors(r.refresh)}`,
    '',
    '',
  );
  const w1 = r.workers['1']!;
  const w2 = r.workers['2']!;
  const p1 = r.workersPipelined['1']!;
  const p2 = r.workersPipelined['2']!;
  row(
    '`/auth/me`, 1 worker → 2 workers (`npm run start:workers`)',
    `${n(w1.rps)} → ${n(w2.rps)} req/s (×${(w2.rps / w1.rps).toFixed(2)}); ` +
      `10 requests pipelined per connection: ${n(p1.rps)} → ${n(p2.rps)} req/s (×${(p2.rps / p1.rps).toFixed(2)})` +
      // Workers and the load generator share the cores: each worker gets what autocannon leaves.
      (r.machine.cpus <= 2
        ? `; ${r.machine.cpus} cores here, shared with the load generator, which without pipelining needs a core of its own`
        : ''),
    '',
    '',
  );
  const ops: [string, string, number | undefined][] = [
    ['login', 'login', 1],
    ['refresh', 'refresh', 1],
    ['me', '`/auth/me`', 0],
    ['decrypt', '`/wechat/decrypt`', 1],
    ['logout', 'logout', undefined],
    ['logoutAll', 'logout everywhere', undefined],
  ];
  for (const [key, label, target] of ops) {
    const cost = r.redisPerOperation[key]!;
    const limited = r.redisPerOperationWithDefaultRateLimits[key]!;
    // Login's first and second calls are the double-submit single flight (claim the code before asking
    // WeChat, share its result after); the session itself is written by the last one.
    const why = key === 'login' ? ' (claim the code, share its result, write the session)' : '';
    row(
      `Redis per ${label}: round trips (commands)`,
      `${cost.roundTrips} (${cost.commands}): ${cost.sent.join(', ') || 'none'}${why}; with the default rate limits ${limited.roundTrips} (${limited.commands})`,
      target === undefined ? '' : `${target} round trip${target === 1 ? '' : 's'}`,
      target === undefined ? '' : check(cost.roundTrips <= target),
    );
  }
  const m = r.memory;
  row(
    'Redis bytes per user record (MEMORY USAGE)',
    `${m.userRecordBytes} (session_key sealed, as in production); ${m.userRecordInClearBytes} in clear`,
    '≤ 200',
    check(m.userRecordBytes <= 200),
  );
  row(
    'Redis bytes per session (MEMORY USAGE of its family)',
    `${m.sessionBytes}`,
    '≤ 250',
    check(m.sessionBytes <= 250),
  );
  row(
    'Redis bytes all-in (used_memory)',
    `${n(m.perUserWithOneSessionAllIn)} per user with one session; ${n(m.perExtraSessionAllIn)} per further session`,
    '',
    '',
  );
  const lines = [
    `| measure | result | target | |`,
    '| --- | --- | --- | --- |',
    ...rows.map((cells) => `| ${cells.join(' | ')} |`),
    '',
    `${r.machine.cpus} × ${r.machine.model ?? 'CPU'}, Node ${r.machine.node}; ${r.settings.durationS} s runs, ` +
      `${r.settings.connections} connections, ${r.settings.rounds} round(s) (medians), LOG_LEVEL=${r.settings.logLevel}, ` +
      `${n(r.settings.records)} users for memory; ` +
      (r.machine.pinned
        ? 'service pinned to core 0, load generator and Redis to core 1 (workers: all share both cores).'
        : 'no CPU pinning.'),
    '',
  ];
  return lines.join('\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
