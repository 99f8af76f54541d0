import { appDirectory, type WechatApp } from './config/apps.js';
import { type Config, ConfigError } from './config/index.js';
import { createAtRestCipher, parseAtRestKeys } from './crypto/index.js';
import { createEmulator, type Emulator, zeroConfigApps } from './emulator/index.js';
import type { AppDeps, RateLimitBackend } from './http/index.js';
import { type Clock, createLogger, type Logger, systemClock } from './lib/index.js';
import { createMetrics } from './metrics/index.js';
import { connectRedis, EncryptingStore, MemoryStore, RedisStore, type SessionStore } from './store/index.js';
import { generateEphemeralKeySet, type KeySet, loadKeySet } from './tokens/index.js';
import { createWechatClient } from './wechat/index.js';

/** What an entry point or a test may put in place of what the config would make. */
export interface DepsOverrides {
  clock?: Clock;
  logger?: Logger;
  /** The signing keys (another instance's, in tests); default: JWT_SIGNING_KEYS_FILE or an ephemeral key. */
  keys?: KeySet;
  /** Node's process metrics in /metrics (a server process wants them; tests do not). */
  processMetrics?: boolean;
}

/** The collaborators of createApp, and what else the process owns: the emulator it started, if any. */
export interface Deps extends AppDeps {
  emulator: Emulator | undefined;
  /** Closes the store's connections and the emulator started here. */
  close(): Promise<void>;
}

/** How long start-up waits for Redis before it serves anyway (/readyz says 503 until it answers). */
const REDIS_STARTUP_WAIT_MS = 2000;

/**
 * The one place that builds the service's collaborators from its config: every entry point (server,
 * workers through it, the tests' harness, the bench) calls it, so they cannot drift apart. Each embedded
 * default it takes is announced in one WARNING line.
 */
export async function buildDeps(config: Config, overrides: DepsOverrides = {}): Promise<Deps> {
  const clock = overrides.clock ?? systemClock;
  const logger = overrides.logger ?? createLogger({ level: config.logLevel });
  const metrics = createMetrics({ processMetrics: overrides.processMetrics ?? false });

  let emulator: Emulator | undefined;
  let apiBase: string;
  let appList: readonly WechatApp[];
  if (config.wechat.mode === 'emulator') {
    emulator = createEmulator({ clock, apps: zeroConfigApps() });
    apiBase = await emulator.listen(0, '127.0.0.1');
    appList = emulator.apps.map((app) => ({
      ...app,
      audience: [config.tokens.audience],
      claims: [],
      redirectUris: [],
    }));
    logger.warn(
      { default: 'wechat', url: apiBase, apps: appList.map(({ appid, kind }) => `${appid} (${kind})`) },
      'WARNING: WECHAT_APPID/WECHAT_SECRET unset: using the built-in WeChat emulator (development only)',
    );
  } else {
    apiBase = config.wechat.apiBase;
    appList = config.wechat.apps;
  }
  const apps = appDirectory(appList, config.wechat.qrLoginAppid || undefined);

  const keys = overrides.keys ?? (await signingKeys(config, logger));
  const { store: plainStore, rateLimitBackend } = await sessionStore(config, logger, clock);
  const store = encryptSessionKeys(plainStore, config, logger);
  // One client per app: its own access_token, breakers and quotas, so one app's WeChat failing never
  // slows another's logins.
  const wechat = new Map(
    apps.all.map((app) => [
      app.appid,
      createWechatClient({
        apiBase,
        appid: app.appid,
        secret: app.secret,
        // The first mini-program's token keeps the key it had before several apps.
        ...(app === apps.legacy ? {} : { tokenScope: app.appid }),
        timeoutMs: config.wechat.timeoutMs,
        breakerThreshold: config.wechat.breakerThreshold,
        breakerCooldownMs: config.wechat.breakerCooldownMs,
        clock,
        store,
        logger,
        onCall: (api, outcome) => metrics.observeWechat(api, outcome, app.appid),
      }),
    ]),
  );
  return {
    store,
    keys,
    clock,
    logger,
    metrics,
    rateLimitBackend,
    apps,
    wechat,
    emulator,
    async close() {
      await store.close();
      await emulator?.close();
    },
  };
}

async function signingKeys(config: Config, logger: Logger): Promise<KeySet> {
  const file = config.tokens.signingKeysFile;
  if (file) {
    try {
      return await loadKeySet(file);
    } catch (error) {
      throw new ConfigError(`JWT_SIGNING_KEYS_FILE: ${(error as Error).message}`);
    }
  }
  const keys = await generateEphemeralKeySet();
  logger.warn(
    { default: 'signing_key', kid: keys.signing.kid },
    'WARNING: JWT_SIGNING_KEYS_FILE unset: signing with an ephemeral key; every token dies with this process (development only)',
  );
  return keys;
}

function encryptSessionKeys(store: SessionStore, config: Config, logger: Logger): SessionStore {
  if (!config.sessionKeyEncryptionKeys) {
    logger.warn(
      { default: 'session_key_encryption' },
      'WARNING: SESSION_KEY_ENCRYPTION_KEYS unset: session_keys are stored in clear (development only)',
    );
    return store;
  }
  const cipher = createAtRestCipher(parseAtRestKeys(config.sessionKeyEncryptionKeys));
  return new EncryptingStore(store, cipher, (openid) =>
    logger.error(
      { event: 'session_key_unreadable', openid },
      'a stored session_key opens with no configured key: was a key removed from SESSION_KEY_ENCRYPTION_KEYS?',
    ),
  );
}

async function sessionStore(
  config: Config,
  logger: Logger,
  clock: Clock,
): Promise<{ store: SessionStore; rateLimitBackend: RateLimitBackend }> {
  const settings = config.redis;
  if (settings.kind === 'memory') {
    logger.warn(
      { default: 'store' },
      'WARNING: REDIS_URL unset: sessions are kept in this process memory and lost on exit (development only)',
    );
    return { store: new MemoryStore({ clock }), rateLimitBackend: undefined };
  }
  const common = {
    commandTimeoutMs: settings.commandTimeoutMs,
    onError: (error: Error) => logger.warn({ reason: error.message }, 'redis connection error'),
  };
  const redis = connectRedis(
    settings.kind === 'url'
      ? { url: settings.url, ...common }
      : settings.kind === 'cluster'
        ? { clusterNodes: settings.nodes, ...common }
        : { sentinels: settings.sentinels, sentinelName: settings.name, ...common },
  );
  // Commands fail fast while disconnected (no offline queue), so give the first connection a moment.
  const ready = await Promise.race([
    // Not events.once: it rejects on the first 'error' (connection refused), which ended the process
    // when Redis was not up yet. The client keeps reconnecting; the service serves meanwhile.
    new Promise<boolean>((resolve) => redis.once('ready', () => resolve(true))),
    new Promise<boolean>((resolve) => setTimeout(resolve, REDIS_STARTUP_WAIT_MS, false).unref()),
  ]);
  if (ready) logger.info({ store: settings.kind }, 'redis ready');
  else
    logger.warn(
      { store: settings.kind },
      `redis not ready after ${REDIS_STARTUP_WAIT_MS} ms: serving anyway, store routes answer 503 until it is`,
    );
  const store = new RedisStore(redis, { prefix: settings.prefix });
  return { store, rateLimitBackend: { redis, prefix: settings.prefix, guard: store.guard } };
}
