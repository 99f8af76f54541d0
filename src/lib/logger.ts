import { writeSync } from 'node:fs';
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
 * synchronously (process.exit and uncaught exceptions included). A death that skips exit (SIGKILL,
 * the OOM killer) loses the lines not yet written: at most the last 100 ms, or 4 KB.
 */
function stdoutDestination(): DestinationStream {
  // One per process, shared by every logger that writes to stdout: fd 1 is one resource, and two
  // buffers in front of it would each hold an exit hook and could interleave their lines.
  stdout ??= new TurnBatch(
    pino.destination({
      dest: STDOUT,
      sync: false,
      minLength: 4096,
      periodicFlush: 100,
      maxLength: MAX_BUFFERED_BYTES,
    }),
    STDOUT,
  );
  return stdout;
}
let stdout: TurnBatch | undefined;
const STDOUT = 1;
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
/** How long an exit waits for a stalled stdout reader before it gives up on the last lines. */
const EXIT_WRITE_PATIENCE_MS = 2000;

/** sonic-boom, as pino.destination makes it (pino re-exports its type, not its package). */
type Boom = ReturnType<typeof pino.destination>;

/**
 * The lines of one event-loop turn, handed to sonic-boom as one string at the turn's end. sonic-boom
 * appends every write to the string it holds and measures that whole string again
 * (Buffer.byteLength, which first copies the appended pieces into one): under load, each line cost
 * a copy of everything buffered before it, up to 16 KB, the largest single cost of a request answered
 * from memory. Joined here, that copy is paid once a turn instead of once a line.
 */
class TurnBatch implements DestinationStream {
  readonly #boom: Boom;
  readonly #fd: number;
  #lines: string[] = [];
  #scheduled = false;

  constructor(boom: Boom, fd: number) {
    this.#boom = boom;
    this.#fd = fd;
    // An exit runs no more turns: what this turn logged is written there and then.
    process.once('exit', () => this.flushSync());
  }

  write(line: string): void {
    this.#lines.push(line);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#handOver);
    }
  }

  /** pino's logger.flush(cb): everything logged so far, written. */
  flush(callback: (error?: Error) => void): void {
    this.#handOver();
    this.#boom.flush(callback);
  }

  /**
   * Everything, written before it returns (an exit, pino's fatal()). Not through sonic-boom's write():
   * past 4 KB it starts an asynchronous write, which an exit cuts short when stdout is a full
   * non-blocking pipe. What sonic-boom holds goes first, by its own synchronous flush (which waits out
   * a full pipe); then this turn's lines, by the same kind of write.
   */
  flushSync(): void {
    this.#scheduled = false;
    this.#boom.flushSync();
    const text = this.#take();
    if (text !== '') writeAllSync(this.#fd, Buffer.from(text, 'utf8'));
  }

  readonly #handOver = (): void => {
    this.#scheduled = false;
    const text = this.#take();
    if (text !== '') this.#boom.write(text);
  };

  #take(): string {
    if (this.#lines.length === 0) return '';
    const text = this.#lines.length === 1 ? (this.#lines[0] as string) : this.#lines.join('');
    this.#lines = [];
    return text;
  }
}

/**
 * `bytes` to `fd`, synchronously: a full pipe (EAGAIN) is waited out for EXIT_WRITE_PATIENCE_MS in
 * all, after which, or on any other failure (the reader gone: EPIPE), the rest is given up; logging
 * never throws.
 */
function writeAllSync(fd: number, bytes: Buffer): void {
  const giveUpAt = Date.now() + EXIT_WRITE_PATIENCE_MS;
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(fd, bytes, offset);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== 'EAGAIN' && code !== 'EBUSY') || Date.now() > giveUpAt) return;
      Atomics.wait(PAUSE, 0, 0, 10);
    }
  }
}
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

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
