import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type Koa from 'koa';
import supertest from 'supertest';
import type { AppDirectory } from '../../src/config/apps.js';
import { type Config, loadConfig } from '../../src/config/index.js';
import { buildDeps } from '../../src/deps.js';
import { createEmulator, type EmulatedAppOptions, type Emulator } from '../../src/emulator/index.js';
import { createApp } from '../../src/http/index.js';
import { createLogger, ManualClock } from '../../src/lib/index.js';
import type { Metrics } from '../../src/metrics/index.js';
import { connectRedis, type SessionStore } from '../../src/store/index.js';
import type { KeySet } from '../../src/tokens/index.js';
import { freshPrefix, testRedis } from '../setup/hooks.js';
import type { RedisServer } from '../setup/redis.js';

export interface Harness {
  app: Koa;
  http: ReturnType<typeof supertest>;
  emulator: Emulator;
  store: SessionStore;
  /** The apps the service serves (the emulator's, as the config names them). */
  apps: AppDirectory;
  clock: ManualClock;
  config: Config;
  keys: KeySet;
  metrics: Metrics;
  /** Every log line the app wrote, as text. */
  logs: string[];
  redis?: { server: RedisServer; prefix: string; client: ReturnType<typeof connectRedis> };
  /**
   * A wx.login() on the emulator (or an App's WeChat login, for a mobile app), then POST /auth/login:
   * the token response. `appid`: the app to log in through, sent in the body; default none sent (the
   * only mini-program's).
   */
  login(openid?: string, appid?: string): Promise<LoginResult>;
  close(): Promise<void>;
}

export interface LoginResult {
  openid: string;
  access_token: string;
  refresh_token: string;
  expires_in: number;
  refresh_expires_in: number;
  unionid?: string;
  is_new_user?: boolean;
}

const NO_RATE_LIMITS = {
  RATE_LIMIT_LOGIN_PER_IP: '0',
  RATE_LIMIT_REFRESH_PER_IP: '0',
  RATE_LIMIT_REFRESH_PER_USER: '0',
  RATE_LIMIT_WECHAT_PER_IP: '0',
  RATE_LIMIT_WECHAT_PER_USER: '0',
  RATE_LIMIT_ENDINGS_PER_USER: '0',
  RATE_LIMIT_QR_PER_IP: '0',
};

export interface HarnessOptions {
  store?: 'redis' | 'memory';
  env?: Record<string, string>;
  /**
   * A Redis of the test's own (outage tests stop it); default: the suite's shared one. With `peer`: the
   * peer's Redis reached another way (through a relay the test cuts), this instance's alone.
   */
  redisServer?: RedisServer;
  /** Share keys with another harness (two instances of the service); default: a fresh prefix. */
  prefix?: string;
  /**
   * Another instance of `peer`'s service: the same emulator, clock, signing keys and Redis keys (its
   * prefix). close() leaves the shared emulator to its owner.
   */
  peer?: Harness;
  /** The emulated mini-program's AppID; default: a random one. */
  appid?: string;
  /**
   * Several apps: the emulator serves them and the service is configured with them through
   * WECHAT_APPS_FILE (each entry's `audience`, `claims`, `redirect_uris` go into the file as given).
   */
  apps?: Array<
    EmulatedAppOptions & { audience?: string | string[]; claims?: string[]; redirect_uris?: string[] }
  >;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const peer = options.peer;
  const clock = peer?.clock ?? new ManualClock(Date.now());
  const emulatedApps = options.apps?.map(({ audience: _a, claims: _c, redirect_uris: _r, ...app }) => app);
  const emulator =
    peer?.emulator ??
    createEmulator({
      clock,
      ...(options.appid ? { appid: options.appid } : {}),
      ...(emulatedApps ? { apps: emulatedApps } : {}),
    });
  if (!peer) await emulator.listen(0, '127.0.0.1');
  const appsFile = options.apps ? writeAppsFile(options.apps, emulator) : undefined;
  // Rate limits are off unless a test sets them: every test logs in from 127.0.0.1. The emulator comes
  // in as the WeChat API a deployment configures: a real Redis beside no credentials is refused.
  const env: Record<string, string> = {
    LOG_LEVEL: 'info',
    ...(appsFile
      ? { WECHAT_APPS_FILE: appsFile }
      : { WECHAT_APPID: emulator.appid, WECHAT_SECRET: emulator.secret }),
    WECHAT_API_BASE: emulator.url,
    // WeChat's browser login pages too: a browser sent there finds the emulator's.
    WECHAT_OPEN_BASE: emulator.url,
    ...NO_RATE_LIMITS,
    ...options.env,
  };
  let redis: Harness['redis'];
  if ((options.store ?? 'redis') === 'redis') {
    const server = options.redisServer ?? peer?.redis?.server ?? (await testRedis());
    const prefix = peer?.redis?.prefix ?? options.prefix ?? freshPrefix();
    Object.assign(env, { REDIS_URL: server.url, REDIS_KEY_PREFIX: prefix });
    // The test's own view of Redis, never cut off: the peer's, when this instance's way may be.
    const inspector = connectRedis({ url: (peer?.redis?.server ?? server).url });
    await once(inspector, 'ready');
    redis = { server, prefix, client: inspector };
  }
  const config = loadConfig(env);
  const logs: string[] = [];
  const logger = createLogger({
    level: config.logLevel,
    destination: { write: (line: string) => void logs.push(line) },
  });
  const deps = await buildDeps(config, { clock, logger, ...(peer ? { keys: peer.keys } : {}) });
  const { store, keys, metrics, apps } = deps;
  const app = createApp(config, deps);
  const http = supertest(app.callback());

  return {
    app,
    http,
    emulator,
    store,
    apps,
    clock,
    config,
    keys,
    metrics,
    logs,
    ...(redis ? { redis } : {}),
    async login(openid, appid) {
      const { code } = emulator.login(openid, appid === undefined ? {} : { appid });
      const response = await http
        .post('/auth/login')
        .send(appid === undefined ? { code } : { code, appid })
        .expect(200);
      return response.body as LoginResult;
    },
    /** Fails when a WeChat fault the test armed was never hit: the test did not test what it says. */
    async close() {
      try {
        if (!peer) emulator.assertNoPendingFaults();
      } finally {
        await deps.close();
        await redis?.client.quit();
        if (appsFile) rmSync(dirname(appsFile), { recursive: true, force: true });
        if (!peer) await emulator.close();
      }
    },
  };
}

/**
 * A fresh harness for each test of the enclosing describe, handed to `use`, and closed after the test
 * (which fails it when a WeChat fault it armed was never hit).
 */
export function harnessForEachTest(options: HarnessOptions, use: (h: Harness) => void): void {
  let current: Harness | undefined;
  beforeEach(async () => {
    current = await startHarness(options);
    use(current);
  });
  afterEach(async () => {
    const closing = current;
    current = undefined;
    await closing?.close();
  });
}

/** The apps file a deployment would write for the emulator's apps (secrets inline: a test's own). */
function writeAppsFile(apps: NonNullable<HarnessOptions['apps']>, emulator: Emulator): string {
  const dir = mkdtempSync(join(tmpdir(), 'wxauth-apps-'));
  const file = join(dir, 'apps.json');
  const entries = emulator.apps.map((app, i) => {
    const { audience, claims, redirect_uris } = apps[i] ?? {};
    return {
      appid: app.appid,
      kind: app.kind,
      secret: app.secret,
      name: app.name,
      ...(audience === undefined ? {} : { audience }),
      ...(claims === undefined ? {} : { claims }),
      ...(redirect_uris === undefined ? {} : { redirect_uris }),
    };
  });
  writeFileSync(file, JSON.stringify({ apps: entries }), { mode: 0o600 });
  return file;
}
