import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths pino blanks in every line. The code never logs bodies, tokens or keys; this is the second
 * line of defence should a future log call pass one by mistake.
 */
export const REDACTED_PATHS = [
  'session_key',
  'sessionKey',
  'refresh_token',
  'refreshToken',
  'access_token',
  'accessToken',
  'secret',
  'code',
  'authorization',
  '*.session_key',
  '*.sessionKey',
  '*.refresh_token',
  '*.refreshToken',
  '*.access_token',
  '*.accessToken',
  '*.secret',
  '*.code',
  '*.authorization',
  '*.headers.authorization',
  '*.encryptedData',
  '*.iv',
];

/**
 * Where lines go unless told otherwise: stdout, through a buffer written asynchronously once it holds
 * 4 KB or every 100 ms. A synchronous write per line cost about as much as a whole bare Koa request;
 * so the service never waits on stdout, and a log reader that stalls does not stop it (past
 * MAX_BUFFERED_BYTES, lines are dropped instead). A graceful stop loses no line: SIGTERM flushes, and
 * flushLogs() waits for the last lines before exit; any other exit writes what is buffered
 * synchronously (pino does, process.exit and uncaught exceptions included). A death that skips exit
 * (SIGKILL, the OOM killer) loses the lines not yet written: at most the last 100 ms, or 4 KB.
 */
function stdoutDestination(): DestinationStream {
  return pino.destination({
    dest: 1,
    sync: false,
    minLength: 4096,
    periodicFlush: 100,
    maxLength: MAX_BUFFERED_BYTES,
  });
}
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

/** `,"time":"<ISO 8601>"`, formatted once per millisecond: toISOString cost a microsecond a line. */
let stampedAt = -1;
let stamp = '';
function isoTime(): string {
  const now = Date.now();
  if (now !== stampedAt) {
    stampedAt = now;
    stamp = `,"time":"${new Date(now).toISOString()}"`;
  }
  return stamp;
}

export function createLogger(options: { level: string; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      base: { service: 'wxauth' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: isoTime,
    },
    options.destination ?? stdoutDestination(),
  );
}

/**
 * Resolves once every line logged so far has been written (at most `ms` later): before a graceful
 * process.exit, which would otherwise cut short the write in flight.
 */
export function flushLogs(logger: Logger, ms = 2000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    logger.flush(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
