import { once } from 'node:events';
import type Koa from 'koa';
import supertest from 'supertest';
import { type Config, loadConfig } from '../../src/config/index.js';
import { createEmulator, type Emulator } from '../../src/emulator/index.js';
import { createApp } from '../../src/http/index.js';
import { createLogger, ManualClock } from '../../src/lib/index.js';
import { connectRedis, MemoryStore, RedisStore, type SessionStore } from '../../src/store/index.js';
import { generateEphemeralKeySet, type KeySet } from '../../src/tokens/index.js';
import { createWechatClient } from '../../src/wechat/index.js';
import { freshPrefix, testRedis } from '../setup/hooks.js';
import type { RedisServer } from '../setup/redis.js';

export interface Harness {
  app: Koa;
  http: ReturnType<typeof supertest>;
  emulator: Emulator;
  store: SessionStore;
  clock: ManualClock;
  config: Config;
  keys: KeySet;
  /** Every log line the app wrote, as text. */
  logs: string[];
  redis?: { server: RedisServer; prefix: string; client: ReturnType<typeof connectRedis> };
  /** A wx.login() on the emulator, then POST /auth/login: the token response. */
  login(openid?: string): Promise<LoginResult>;
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

export async function startHarness(
  options: { store?: 'redis' | 'memory'; env?: Record<string, string> } = {},
): Promise<Harness> {
  const clock = new ManualClock(Date.now());
  const emulator = createEmulator({ clock });
  await emulator.listen(0, '127.0.0.1');
  const config = loadConfig({ LOG_LEVEL: 'info', ...options.env });
  const logs: string[] = [];
  const logger = createLogger({
    level: config.logLevel,
    destination: { write: (line: string) => void logs.push(line) },
  });
  const keys = await generateEphemeralKeySet();

  let store: SessionStore;
  let redis: Harness['redis'];
  if ((options.store ?? 'redis') === 'redis') {
    const server = await testRedis();
    const prefix = freshPrefix();
    const client = connectRedis({ url: server.url });
    const inspector = connectRedis({ url: server.url });
    // Commands fail fast before `ready` (no offline queue), so take no traffic until then.
    await Promise.all([once(client, 'ready'), once(inspector, 'ready')]);
    store = new RedisStore(client, { prefix });
    redis = { server, prefix, client: inspector };
  } else {
    store = new MemoryStore({ clock });
  }

  const wechat = createWechatClient({
    apiBase: emulator.url,
    appid: emulator.appid,
    secret: emulator.secret,
    timeoutMs: config.wechat.timeoutMs,
    logger,
  });
  const app = createApp(config, { store, wechat, keys, clock, logger });
  const http = supertest(app.callback());

  return {
    app,
    http,
    emulator,
    store,
    clock,
    config,
    keys,
    logs,
    ...(redis ? { redis } : {}),
    async login(openid) {
      const { code } = emulator.login(openid);
      const response = await http.post('/auth/login').send({ code }).expect(200);
      return response.body as LoginResult;
    },
    async close() {
      await store.close();
      await redis?.client.quit();
      await emulator.close();
    },
  };
}
