import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, Server as NetServer, type Socket } from 'node:net';
import { ConfigError, loadProcessConfig } from './config/index.js';
import { buildDeps } from './deps.js';
import { createAdminApp, createApp } from './http/index.js';
import { flushLogs, type Logger, tuneRuntime } from './lib/index.js';
import type { Metrics } from './metrics/index.js';
import { walkthrough } from './walkthrough.js';

/** Process wiring only: settings, collaborators, listen, and a graceful end on SIGTERM. */
async function main(): Promise<void> {
  tuneRuntime();
  let config = loadProcessConfig();
  const deps = await buildDeps(config, { processMetrics: true });
  const { logger, metrics, emulator } = deps;
  // Aborted at shutdown: web-login long polls answer at once then.
  const stopping = new AbortController();

  // The app comes once the port is known: PUBLIC_URL's default, the tokens' issuer, names it (PORT=0).
  const server = createServer();
  // A load balancer reusing a connection that we close at that moment answers 502: idle connections
  // must outlive its idle timeout, so that it is the one closing them.
  server.keepAliveTimeout = config.http.keepAliveTimeoutMs;
  // headersTimeout above keepAliveTimeout, as Node's keep-alive guidance asks (older versions timed an
  // idle connection's next headers from its last request); a client trickling its request is still cut
  // off at requestTimeout.
  server.headersTimeout = config.http.keepAliveTimeoutMs + 1000;
  server.requestTimeout = 30_000;
  const drain = drainable(server);
  // A listener that cannot open (port taken) is a setting to change: the store's connections and the
  // buffered log lines go first, so that the line naming the setting is the last one written.
  const listenOrClose = async (on: Server, setting: Settings, port: number, host: string | undefined) => {
    try {
      return await listen(on, setting, port, host);
    } catch (error) {
      for (const other of [server, metricsServer, adminServer]) other?.close();
      await deps.close().catch(() => undefined);
      await flushLogs(logger);
      throw error;
    }
  };
  let metricsServer: Server | undefined;
  let adminServer: Server | undefined;
  const { address, port } = await listenOrClose(server, ['PORT', 'HOST'], config.port, config.host);
  // No await until the app handles requests: none is read before this turn ends.
  if (config.port === 0) config = loadProcessConfig({ PORT: String(port) });
  server.on('request', createApp(config, { ...deps, stopping: stopping.signal }).callback());
  logger.info({ host: address, port, env: config.env }, `wxauth listening on port ${port}`);
  if (emulator) {
    // Below the log lines so far, which wait in a buffer (lib/logger.ts).
    await flushLogs(logger);
    // The URL tokens name as their issuer: a service configured with the printed URL accepts them.
    process.stdout.write(walkthrough(config.publicUrl, emulator.url, emulator.apps));
  }

  if (config.metrics.port !== undefined) {
    metricsServer = metricsListener(metrics, logger);
    const at = await listenOrClose(
      metricsServer,
      ['METRICS_PORT', 'METRICS_HOST'],
      config.metrics.port,
      config.metrics.host,
    );
    logger.info(
      { host: at.address, port: at.port },
      `metrics on http://${hostPort(at.address, at.port)}/metrics`,
    );
  }

  if (config.admin !== undefined) {
    adminServer = createServer(createAdminApp(config, deps).callback());
    const at = await listenOrClose(
      adminServer,
      ['ADMIN_PORT', 'ADMIN_HOST'],
      config.admin.port,
      config.admin.host,
    );
    logger.info({ host: at.address, port: at.port }, `admin API on http://${hostPort(at.address, at.port)}`);
  }

  const stop = (signal: string) => {
    if (stopping.signal.aborted) return;
    logger.info({ signal }, 'shutting down: no new connections, finishing requests in flight');
    // Log lines wait in a buffer (lib/logger.ts): out with them now, not at the next flush.
    logger.flush();
    const force = setTimeout(() => {
      logger.warn('requests still in flight at SHUTDOWN_TIMEOUT_MS: closing their connections');
      server.closeAllConnections();
    }, config.shutdownTimeoutMs);
    force.unref();
    // A scrape cut short at exit costs nothing.
    metricsServer?.close();
    metricsServer?.closeAllConnections();
    // An admin action in flight finishes (it ends sessions in steps); idle connections go.
    adminServer?.close();
    adminServer?.closeIdleConnections();
    drain(async () => {
      await deps
        .close()
        .catch((error: unknown) => logger.warn({ err: error }, 'store did not close cleanly'));
      logger.info('stopped');
      // Request lines are written asynchronously (lib/logger.ts): exit once every one is out.
      await flushLogs(logger);
      process.exit(0);
    });
    // Web-login long polls waiting for a change answer their status now, not at SHUTDOWN_TIMEOUT_MS,
    // and with Connection: close (drain() marked them), so the browser's next poll goes elsewhere.
    stopping.abort();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** The settings that name a listener's port and host. */
type Settings = [port: string, host: string];

/**
 * Listens, or rejects with a ConfigError naming the setting to change when the address cannot be had: a port in
 * use or one below 1024 without the right to it is fixed by changing that setting.
 */
function listen(
  server: Server,
  [setting, hostSetting]: Settings,
  port: number,
  host: string | undefined,
): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const where = `${host ?? 'every interface'} port ${port}`;
      if (error.code === 'EADDRINUSE')
        reject(
          new ConfigError(
            `${setting}: ${where} is in use by another process; stop it, or set ${setting} to a free port (0: any)`,
          ),
        );
      else if (error.code === 'EACCES')
        reject(
          new ConfigError(
            `${setting}: this process may not listen on ${where} (ports below 1024 need privileges); set ${setting} to a port from 1024 up`,
          ),
        );
      else if (error.code === 'EADDRNOTAVAIL')
        reject(
          new ConfigError(
            `${hostSetting}: ${host} is not an address of this machine (${error.code}); set ${hostSetting} to one of its addresses`,
          ),
        );
      else reject(error);
    });
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

main().catch((error: unknown) => {
  const why = error instanceof ConfigError ? 'cannot start' : 'failed to start';
  process.stderr.write(`wxauth: ${why}: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
