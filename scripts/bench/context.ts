import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createEmulator, type Emulator } from '../../src/emulator/index.js';
import { systemClock } from '../../src/lib/index.js';
import { generatePrivateJwks } from '../../src/tokens/index.js';
import {
  build,
  freePort,
  pin,
  type RedisServer,
  ROOT,
  type ServiceProcess,
  startRedisServer,
  startService,
} from '../lib/spawn.js';
import { options } from './options.js';
import { json, post, type Target } from './traffic.js';

/** The service's core; this process (autocannon, the emulator) and Redis take the other. */
export const SERVICE_CORE = '0';
export const LOAD_CORE = '1';

export interface Service extends Target {
  url: string;
  process: ServiceProcess;
  /** From the spawn to its readiness (a 200 from /healthz, or the `ready` line), ms. */
  startMs: number;
  stop(): Promise<void>;
}

/** What every phase shares: one Redis, one emulator, one key set, one build of the service. */
export interface Bench {
  redis: RedisServer;
  emulator: Emulator;
  keysFile: string;
  atRestKeys: string;
  /** The service's settings for the bench: development mode against the private Redis and emulator. */
  env: Record<string, string>;
  /** Every rate limit off: the load comes from one address. */
  noLimits: Record<string, string>;
  /** The compiled service: a directory holding server.js and workers.js. */
  dist: string;
  /** Starts `entry` with `env` (PORT added), waits for `ready` (default: a 200 from /healthz). */
  start(
    entry: string,
    env: Record<string, string>,
    opts?: { cores?: string; ready?: RegExp; nodeOptions?: string[] },
  ): Promise<Service>;
  /** A wx.login() on the emulator and POST /auth/login to `url`. */
  login(url: string, user?: string): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function createBench(): Promise<Bench> {
  pin(process.pid, LOAD_CORE);
  // Started after the pinning, so it inherits this core.
  const redis = await startRedisServer();
  const emulator = createEmulator({ clock: systemClock });
  await emulator.listen(0, '127.0.0.1');
  const dir = mkdtempSync(join(tmpdir(), 'wxauth-bench-'));
  const keysFile = join(dir, 'keys.json');
  writeFileSync(keysFile, JSON.stringify(await generatePrivateJwks()), { mode: 0o600 });
  // An 8-character key id, as `npm run keys -- --at-rest` makes by default: it is part of every sealed key.
  const atRestKeys = `20261123:${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')}`;
  // Inside the repository, where the compiled files find node_modules as dist/ does.
  const buildDir = options.dist === '' ? join(ROOT, '.tmp', `bench-dist-${process.pid}`) : undefined;
  const dist = buildDir === undefined ? options.dist : build(buildDir);
  const services = new Set<Service>();
  // Also when an error ends this process before close() (one thrown in autocannon's callbacks, say).
  process.on('exit', () => {
    for (const service of services) service.process.child.kill('SIGKILL');
  });

  return {
    redis,
    emulator,
    keysFile,
    atRestKeys,
    dist,
    env: {
      NODE_ENV: 'development',
      HOST: '127.0.0.1',
      LOG_LEVEL: options.logLevel,
      REDIS_URL: redis.url,
      WECHAT_APPID: emulator.appid,
      WECHAT_SECRET: emulator.secret,
      WECHAT_API_BASE: emulator.url,
      JWT_SIGNING_KEYS_FILE: keysFile,
      SESSION_KEY_ENCRYPTION_KEYS: atRestKeys,
    },
    noLimits: {
      RATE_LIMIT_LOGIN_PER_IP: '0',
      RATE_LIMIT_REFRESH_PER_IP: '0',
      RATE_LIMIT_REFRESH_PER_USER: '0',
      RATE_LIMIT_WECHAT_PER_IP: '0',
      RATE_LIMIT_WECHAT_PER_USER: '0',
    },
    async start(entry, env, opts = {}) {
      const port = await freePort();
      const spawnedAt = performance.now();
      // stdout stays a pipe that this process drains, as a log shipper reads it: every request writes
      // its line there. Only a tail is kept.
      const child = startService({
        entry,
        env: { ...env, PORT: String(port) },
        keep: 16_000,
        ...(opts.cores === undefined ? {} : { cores: opts.cores }),
        ...(opts.nodeOptions === undefined ? {} : { nodeOptions: opts.nodeOptions }),
      });
      const url = `http://127.0.0.1:${port}`;
      try {
        if (opts.ready) await child.match(opts.ready, 30_000);
        else await child.healthy(url);
      } catch (error) {
        await child.stop('SIGKILL');
        throw error;
      }
      const service: Service = {
        url,
        process: child,
        startMs: performance.now() - spawnedAt,
        cpuSeconds: () => child.cpuSeconds(),
        async stop() {
          services.delete(service);
          await child.stop();
        },
      };
      services.add(service);
      return service;
    },
    async login(url, user) {
      const { code } = emulator.login(user);
      return json(await post(`${url}/auth/login`, { code }));
    },
    async close() {
      for (const service of services) await service.stop();
      await emulator.close();
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
      if (buildDir !== undefined) rmSync(buildDir, { recursive: true, force: true });
    },
  };
}
