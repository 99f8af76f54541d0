import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, Server as NetServer, type Socket } from 'node:net';
import { type Config, loadProcessConfig } from './config/index.js';
import { createAtRestCipher, parseAtRestKeys } from './crypto/index.js';
import { createEmulator, type Emulator } from './emulator/index.js';
import { createApp, type RateLimitBackend } from './http/index.js';
import { createLogger, type Logger, systemClock } from './lib/index.js';
import { createMetrics, type Metrics } from './metrics/index.js';
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
  // A load balancer reusing a connection that we close at that moment answers 502: idle connections
  // must outlive its idle timeout, so that it is the one closing them.
  server.keepAliveTimeout = config.http.keepAliveTimeoutMs;
  // headersTimeout above keepAliveTimeout, as Node's keep-alive guidance asks (older versions timed an
  // idle connection's next headers from its last request); a client trickling its request is still cut
  // off at requestTimeout.
  server.headersTimeout = config.http.keepAliveTimeoutMs + 1000;
  server.requestTimeout = 30_000;
  const drain = drainable(server);
  const { address, port } = await listen(server, config.port, config.host);
  logger.info({ host: address, port, env: config.env }, `wxauth listening on port ${port}`);
  if (emulator) process.stdout.write(walkthrough(`http://127.0.0.1:${port}`, emulator.url));

  let metricsServer: Server | undefined;
  if (config.metrics.port !== undefined) {
    metricsServer = metricsListener(metrics, logger);
    const at = await listen(metricsServer, config.metrics.port, config.metrics.host);
    logger.info(
      { host: at.address, port: at.port },
      `metrics on http://${hostPort(at.address, at.port)}/metrics`,
    );
  }

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
    // A scrape cut short at exit costs nothing.
    metricsServer?.close();
    metricsServer?.closeAllConnections();
    drain(async () => {
      await store
        .close()
        .catch((error: unknown) => logger.warn({ err: error }, 'store did not close cleanly'));
      await emulator?.close();
      logger.info('stopped');
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function listen(server: Server, port: number, host: string | undefined): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server.address() as AddressInfo));
  });
}

const hostPort = (address: string, port: number) =>
  address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;

/**
 * How long a draining server leaves a connection that has no request in flight, for a request already
 * on its way: closed at once, that request would be reset. One sent later is the race every keep-alive
 * close has, which clients retry.
 */
const DRAIN_IDLE_GRACE_MS = 500;

/**
 * Returns `drain(onClosed)`: stop listening, answer every request from then on with
 * `Connection: close` (Node closes the connection after it), let requests in flight finish, close
 * connections as they become idle, and call `onClosed` when none is left. server.close() alone would
 * keep busy connections alive until the force timeout, and reset requests on the way to idle ones.
 */
function drainable(server: Server): (onClosed: () => void) => void {
  const inFlight = new Map<Socket, Set<ServerResponse>>();
  let draining = false;
  const closeWhenIdle = (socket: Socket) => {
    setTimeout(() => {
      if (!inFlight.get(socket)?.size) socket.destroy();
    }, DRAIN_IDLE_GRACE_MS).unref();
  };
  server.on('connection', (socket: Socket) => {
    inFlight.set(socket, new Set());
    socket.once('close', () => inFlight.delete(socket));
    if (draining) closeWhenIdle(socket);
  });
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const responses = inFlight.get(req.socket);
    if (!responses) return;
    responses.add(res);
    if (draining) res.setHeader('Connection', 'close');
    res.once('close', () => {
      responses.delete(res);
      if (draining && responses.size === 0 && !req.socket.destroyed) closeWhenIdle(req.socket);
    });
  });
  return (onClosed) => {
    draining = true;
    for (const [socket, responses] of inFlight) {
      for (const res of responses) if (!res.headersSent) res.setHeader('Connection', 'close');
      if (responses.size === 0) closeWhenIdle(socket);
    }
    // Not server.close(): that destroys every idle connection at once.
    NetServer.prototype.close.call(server, () => onClosed());
  };
}

/** GET /metrics alone, for METRICS_PORT: the registry the public app counts into. */
function metricsListener(metrics: Metrics, logger: Logger): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Only GET /metrics is served here.\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'Content-Type': metrics.registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'metrics could not be collected');
        res.writeHead(500).end();
      },
    );
  });
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
const REDIS_STARTUP_WAIT_MS = 2000;

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

main().catch((error: unknown) => {
  process.stderr.write(
    `wxauth: failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
