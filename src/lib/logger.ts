import { writeSync } from 'node:fs';
import { type DestinationStream, type Logger, pino } from 'pino';
import sonicBoom from 'sonic-boom';

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
 * synchronously (process.exit and uncaught exceptions included), waiting at most
 * SYNC_WRITE_PATIENCE_MS for a reader that has stopped reading. A death that skips exit (SIGKILL, the
 * OOM killer) loses the lines not yet written: at most the last 100 ms, or 4 KB.
 */
function stdoutDestination(): DestinationStream {
  // One per process, shared by every logger that writes to stdout: fd 1 is one resource, and two
  // buffers in front of it would each hold an exit hook and could interleave their lines.
  stdout ??= new StdoutLines();
  return stdout;
}
let stdout: StdoutLines | undefined;
const STDOUT = 1;
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
// A CommonJS module whose class is also its own `SonicBoom` property, which is what its types declare.
const { SonicBoom } = sonicBoom;
/** How long a synchronous write (an exit's) waits for a stalled stdout reader before it gives up. */
const SYNC_WRITE_PATIENCE_MS = 2000;

/**
 * sonic-boom behind a buffer of the lines of one event-loop turn, handed over as one string at the
 * turn's end. sonic-boom appends every write to the string it holds and measures that whole string
 * again (Buffer.byteLength, which first copies the appended pieces into one): under load, each line
 * cost a copy of everything buffered before it, up to 16 KB, about a twentieth of a request answered
 * from memory. Joined here, that copy is paid once a turn instead of once a line.
 *
 * sonic-boom is made here rather than by pino.destination() because of the exit: the one that pino
 * makes flushes it on exit and retries a full pipe for ever, so that an exit with a stalled log
 * reader never ended. Here every synchronous write gives up after SYNC_WRITE_PATIENCE_MS.
 */
class StdoutLines implements DestinationStream {
  readonly #boom: InstanceType<typeof SonicBoom>;
  /** This turn's lines; the first one schedules their hand-over at the turn's end. */
  #lines: string[] = [];
  /** While a synchronous write runs: when it gives up on a full pipe. */
  #giveUpAt: number | undefined;
  /** The reader has gone, or stdout failed: lines are dropped from then on. */
  #failed = false;

  constructor() {
    this.#boom = new SonicBoom({
      fd: STDOUT,
      sync: false,
      minLength: 4096,
      periodicFlush: 100,
      maxLength: MAX_BUFFERED_BYTES,
      // A full pipe is waited out (sonic-boom retries every 100 ms), except by a synchronous write
      // past its patience.
      retryEAGAIN: () => this.#giveUpAt === undefined || Date.now() < this.#giveUpAt,
    });
    // Without a listener an error would end the process; a log that cannot be written must not.
    this.#boom.on('error', (error: NodeJS.ErrnoException) => {
      if (this.#failed) return;
      this.#failed = true;
      process.stderr.write(
        `wxauth: stdout failed (${error.code ?? 'error'}): log lines are dropped from now on\n`,
      );
    });
    // An exit runs no more turns: what is buffered, this turn's lines included, is written there and then.
    process.once('exit', () => this.flushSync());
  }

  write(line: string): void {
    if (this.#failed) return;
    if (this.#lines.push(line) === 1) setImmediate(this.#handOver);
  }

  /** pino's logger.flush(cb): everything logged so far, written. */
  flush(callback: (error?: Error) => void): void {
    this.#handOver();
    if (this.#failed) callback();
    else this.#boom.flush(callback);
  }

  /**
   * Everything, written before it returns (an exit, pino's fatal()), or given up on after
   * SYNC_WRITE_PATIENCE_MS of a full pipe. Not through sonic-boom's write(): past 4 KB it starts an
   * asynchronous write, which an exit cuts short when stdout is a full non-blocking pipe. What
   * sonic-boom holds goes first, by its own synchronous flush; then this turn's lines.
   */
  flushSync(): void {
    const text = this.#take();
    if (this.#failed) return;
    this.#giveUpAt = Date.now() + SYNC_WRITE_PATIENCE_MS;
    try {
      this.#boom.flushSync();
      if (text !== '') writeAllSync(STDOUT, Buffer.from(text, 'utf8'), this.#giveUpAt);
    } catch {
      // sonic-boom gave up on a full pipe, or the reader has gone: the rest is lost, the exit goes on.
    } finally {
      this.#giveUpAt = undefined;
    }
  }

  readonly #handOver = (): void => {
    const text = this.#take();
    if (text !== '' && !this.#failed) this.#boom.write(text);
  };

  #take(): string {
    const text = this.#lines.join('');
    this.#lines = [];
    return text;
  }
}

/**
 * `bytes` to `fd`, synchronously: a full pipe (EAGAIN) is waited out until `giveUpAt`, after which,
 * or on any other failure (the reader gone: EPIPE), the rest is given up; it never throws.
 */
function writeAllSync(fd: number, bytes: Buffer, giveUpAt: number): void {
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
