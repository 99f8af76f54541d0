import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Config, loadProcessConfig } from './config/index.js';
import { createAtRestCipher, parseAtRestKeys } from './crypto/index.js';
import { createEmulator, type Emulator } from './emulator/index.js';
import { createApp, type RateLimitBackend } from './http/index.js';
import { createLogger, type Logger, systemClock } from './lib/index.js';
import { createMetrics } from './metrics/index.js';
import { connectRedis, EncryptingStore, MemoryStore, RedisStore, type SessionStore } from './store/index.js';
import { generateEphemeralKeySet, type KeySet, loadKeySet } from './tokens/index.js';
import { walkthrough } from './walkthrough.js';
import { createWechatClient } from './wechat/index.js';

/** Process wiring only: settings, collaborators, listen, and a graceful end on SIGTERM. */
async function main(): Promise<void> {
  const config = loadProcessConfig();
  const logger = createLogger({ level: config.logLevel });
  const clock = systemClock;

  let emulator: Emulator | undefined;
  let wechat: { apiBase: string; appid: string; secret: string };
  if (config.wechat.mode === 'emulator') {
    emulator = createEmulator({ clock });
    const url = await emulator.listen(0, '127.0.0.1');
    wechat = { apiBase: url, appid: emulator.appid, secret: emulator.secret };
    logger.warn(
      { default: 'wechat', url },
      'WARNING: WECHAT_APPID/WECHAT_SECRET unset: using the built-in WeChat emulator (development only)',
    );
  } else {
    wechat = config.wechat;
  }

  const keys = await signingKeys(config, logger);
  const { store: plainStore, rateLimitBackend } = await sessionStore(config, logger);
  const store = encryptSessionKeys(plainStore, config, logger);
  const metrics = createMetrics({ processMetrics: true });
  const app = createApp(config, {
    store,
    keys,
    clock,
    logger,
    metrics,
    rateLimitBackend,
    wechat: createWechatClient({
      ...wechat,
      timeoutMs: config.wechat.timeoutMs,
      breakerThreshold: config.wechat.breakerThreshold,
      breakerCooldownMs: config.wechat.breakerCooldownMs,
      clock,
      store,
      logger,
      onCall: metrics.observeWechat,
    }),
  });

  const server = createServer(app.callback());
  // A client that trickles its request must not hold a connection forever.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  logger.info({ port, env: config.env }, `wxauth listening on port ${port}`);
  if (emulator) process.stdout.write(walkthrough(`http://127.0.0.1:${port}`, emulator.url));

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: no new connections, finishing requests in flight');
    const force = setTimeout(() => {
      logger.warn('requests still in flight at SHUTDOWN_TIMEOUT_MS: closing their connections');
      server.closeAllConnections();
    }, config.shutdownTimeoutMs);
    force.unref();
    server.close(async () => {
      await store
        .close()
        .catch((error: unknown) => logger.warn({ err: error }, 'store did not close cleanly'));
      await emulator?.close();
      logger.info('stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function signingKeys(config: Config, logger: Logger): Promise<KeySet> {
  const file = config.tokens.signingKeysFile;
  if (file) {
    try {
      return await loadKeySet(file);
    } catch (error) {
      process.stderr.write(`wxauth: cannot start: JWT_SIGNING_KEYS_FILE: ${(error as Error).message}\n`);
      process.exit(1);
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

/** How long start-up waits for Redis before it serves anyway (/readyz says 503 until it answers). */
const REDIS_STARTUP_WAIT_MS = 5000;

async function sessionStore(
  config: Config,
  logger: Logger,
): Promise<{ store: SessionStore; rateLimitBackend: RateLimitBackend }> {
  const settings = config.redis;
  if (settings.kind === 'memory') {
    logger.warn(
      { default: 'store' },
      'WARNING: REDIS_URL unset: sessions are kept in this process memory and lost on exit (development only)',
    );
    return { store: new MemoryStore({ clock: systemClock }), rateLimitBackend: undefined };
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
    once(redis, 'ready').then(() => true),
    new Promise<boolean>((resolve) => setTimeout(resolve, REDIS_STARTUP_WAIT_MS, false).unref()),
  ]);
  if (ready) logger.info({ store: settings.kind }, 'redis ready');
  else
    logger.warn(
      { store: settings.kind },
      `redis not ready after ${REDIS_STARTUP_WAIT_MS} ms: serving anyway, store routes answer 503 until it is`,
    );
  return {
    store: new RedisStore(redis, { prefix: settings.prefix }),
    rateLimitBackend: { redis, prefix: settings.prefix },
  };
}

main().catch((error: unknown) => {
  process.stderr.write(
    `wxauth: failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
