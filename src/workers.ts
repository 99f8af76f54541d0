import cluster, { type Worker } from 'node:cluster';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadProcessConfig } from './config/index.js';
import { createEmulator, type Emulator, zeroConfigApps } from './emulator/index.js';
import { createLogger, flushLogs, systemClock } from './lib/index.js';
import { generatePrivateJwks } from './tokens/index.js';

/**
 * Every core: `npm run start:workers` runs WORKERS copies of server.ts (default: one per core) behind
 * one port with node:cluster. The primary accepts connections and hands them to the workers in turn;
 * each worker is the ordinary server, so whatever one answers, any other would. That holds only for
 * state they share: Redis (required here), one signing key, one WeChat. In development the primary
 * provides the last two (an ephemeral key in a private file, one emulator) so that they are shared too.
 *
 * SIGTERM or SIGINT: every worker gets SIGTERM and finishes its requests in flight (server.ts), then the
 * primary exits 0.
 *
 * A worker that dies after it listened has crashed (a bug, memory, a kill from outside): it is started
 * again, at once when it had lived MIN_LIFETIME_MS, else with a back-off that grows while replacements
 * keep dying young, so a crash loop costs little and the other workers serve meanwhile. A worker that dies before it listens
 * failed at start, which with settings checked by the primary means something every worker shares (the
 * port taken, a key file unreadable): when as many starts in a row as there are workers fail so, the
 * primary stops and exits 1 rather than loop.
 */
/** The server beside this file: dist/server.js when compiled, src/server.ts through tsx. */
const SERVER = fileURLToPath(new URL(`./server${extname(fileURLToPath(import.meta.url))}`, import.meta.url));
/** A worker that crashes sooner than this after its start is in a crash loop: its replacement waits. */
const MIN_LIFETIME_MS = 10_000;
/** The first and the longest wait before a replacement of a worker that crashed young, ms. */
const RESTART_DELAY_MS = 500;
const RESTART_DELAY_MAX_MS = 30_000;

async function primary(): Promise<void> {
  const config = loadProcessConfig();
  const logger = createLogger({ level: config.logLevel }).child({ role: 'primary' });
  const count = config.workers ?? availableParallelism();

  if (config.redis.kind === 'memory' && count > 1) {
    process.stderr.write(
      'wxauth: cannot start: workers share sessions through Redis: set REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS (or run one process with npm start)\n',
    );
    process.exit(1);
  }

  const shared: Record<string, string> = {};
  let keysDir: string | undefined;
  if (config.tokens.signingKeysFile === undefined) {
    keysDir = mkdtempSync(join(tmpdir(), 'wxauth-keys-'));
    const file = join(keysDir, 'ephemeral-jwks.json');
    writeFileSync(file, JSON.stringify(await generatePrivateJwks()), { mode: 0o600 });
    shared.JWT_SIGNING_KEYS_FILE = file;
    logger.warn(
      { default: 'signing_key' },
      'WARNING: JWT_SIGNING_KEYS_FILE unset: the workers sign with one ephemeral key; every token dies with this process (development only)',
    );
  }
  let emulator: Emulator | undefined;
  let appsDir: string | undefined;
  if (config.wechat.mode === 'emulator') {
    // The apps npm start serves with nothing configured (two mini-programs, a mobile App, …).
    emulator = createEmulator({ clock: systemClock, apps: zeroConfigApps() });
    const url = await emulator.listen(0, '127.0.0.1');
    // Several apps' credentials do not fit WECHAT_APPID/WECHAT_SECRET: the workers read them from an
    // apps file, private to this user (it holds the secrets) and removed at exit.
    appsDir = mkdtempSync(join(tmpdir(), 'wxauth-apps-'));
    const appsFile = join(appsDir, 'emulator-apps.json');
    writeFileSync(appsFile, JSON.stringify({ apps: emulator.apps.map(appsFileEntry) }), {
      mode: 0o600,
    });
    Object.assign(shared, {
      WECHAT_API_BASE: url,
      WECHAT_APPS_FILE: appsFile,
      // Exclusive with the apps file: cleared, whatever this process was given.
      WECHAT_APPID: '',
      WECHAT_SECRET: '',
      // Credentials beside WECHAT_EMULATOR=1 are refused: the workers get credentials only.
      WECHAT_EMULATOR: '',
      // The workers see credentials, so they would take that default (every interface): pass on the
      // embedded one (loopback only, as npm start does) or the HOST given.
      ...(config.host ? { HOST: config.host } : {}),
    });
    logger.warn(
      { default: 'wechat', url, apps: emulator.apps.map(({ appid, kind }) => `${appid} (${kind})`) },
      `WARNING: WECHAT_APPID/WECHAT_SECRET unset: the workers share one built-in WeChat emulator at ${url} (development only)`,
    );
  }

  cluster.setupPrimary({ exec: SERVER });
  const startedAt = new Map<Worker, number>();
  const listening = new WeakSet<Worker>();
  let stopping = false;
  /** Starts that failed in a row (no worker listened since), and crashes of young workers in a row. */
  let failedStarts = 0;
  let youngCrashes = 0;
  const restarts = new Set<NodeJS.Timeout>();
  const fork = () => startedAt.set(cluster.fork(shared), Date.now());
  cluster.on('listening', (worker) => {
    listening.add(worker);
    failedStarts = 0;
  });

  const finish = async (code: number) => {
    await emulator?.close();
    if (keysDir) rmSync(keysDir, { recursive: true, force: true });
    if (appsDir) rmSync(appsDir, { recursive: true, force: true });
    logger.info({ exitCode: code }, 'stopped');
    await flushLogs(logger);
    process.exit(code);
  };

  let exitCode = 0;
  const stop = (signal: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, workers: startedAt.size }, 'stopping the workers');
    for (const timer of restarts) clearTimeout(timer);
    restarts.clear();
    for (const worker of startedAt.keys()) worker.process.kill('SIGTERM');
    // server.ts gives requests SHUTDOWN_TIMEOUT_MS; past that and a margin, no worker is waited for.
    setTimeout(() => {
      for (const worker of startedAt.keys()) worker.process.kill('SIGKILL');
    }, config.shutdownTimeoutMs + 5000).unref();
    if (startedAt.size === 0) void finish(code);
    else exitCode = code;
  };

  cluster.on('exit', (worker, status, signal) => {
    const lived = Date.now() - (startedAt.get(worker) ?? 0);
    startedAt.delete(worker);
    // Exit 0 is a worker that was told to stop (a Ctrl-C reaches every process of the group at once).
    if (stopping || status === 0) {
      if (startedAt.size === 0) void finish(exitCode);
      return;
    }
    if (!listening.has(worker)) {
      failedStarts += 1;
      logger.error(
        { pid: worker.process.pid, status, signal, failedStarts },
        'worker failed at start, before it listened',
      );
      if (failedStarts >= count) {
        process.stderr.write(
          `wxauth: cannot start: ${failedStarts} workers in a row failed before they listened (their lines above say why)\n`,
        );
        stop('every worker failed at start', 1);
        return;
      }
    } else {
      youngCrashes = lived < MIN_LIFETIME_MS ? youngCrashes + 1 : 0;
    }
    const delayMs =
      youngCrashes === 0 ? 0 : Math.min(RESTART_DELAY_MS * 2 ** (youngCrashes - 1), RESTART_DELAY_MAX_MS);
    logger.error(
      { pid: worker.process.pid, status, signal, livedMs: lived, restartInMs: delayMs },
      'worker died: starting another',
    );
    const timer = setTimeout(() => {
      restarts.delete(timer);
      if (!stopping) fork();
    }, delayMs);
    restarts.add(timer);
  });
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  for (let i = 0; i < count; i += 1) fork();
  logger.info({ workers: count, port: config.port }, `wxauth: ${count} workers behind port ${config.port}`);
}

/**
 * An emulated app as WECHAT_APPS_FILE lists it. The file requires redirect URIs of official accounts
 * and websites, which npm start's emulated ones have none of: a loopback URI, accepted outside
 * production whatever PUBLIC_URL is, to which no browser login is sent. (The demo, whose callback is
 * their redirect URI in npm start, is not served by the workers: they run with an apps file, not the
 * embedded emulator.)
 */
function appsFileEntry({ appid, kind, secret, name }: Emulator['apps'][number]) {
  const browser = kind === 'official_account' || kind === 'website';
  return { appid, kind, secret, name, ...(browser ? { redirect_uris: ['http://localhost/'] } : {}) };
}

primary().catch((error: unknown) => {
  process.stderr.write(
    `wxauth: failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
