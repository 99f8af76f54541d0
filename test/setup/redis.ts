import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createConnection, createServer } from 'node:net';

/** A private redis-server for tests, on a free loopback port. Never the machine's own Redis. */
export interface RedisServer {
  port: number;
  /** redis://127.0.0.1:<port> */
  url: string;
  /** Kills the server (SIGKILL). Idempotent. */
  stop(): Promise<void>;
  /** Kills the server (SIGKILL), then starts an empty one on the same port: an outage and its end. */
  restart(): Promise<void>;
  /** SIGSTOP: the server keeps its connections but answers nothing, as a hung or overloaded Redis. */
  freeze(): Promise<void>;
  /** SIGCONT after freeze(). */
  thaw(): Promise<void>;
  /**
   * total_commands_processed from INFO stats, less the commands this fixture sent itself, so `after -
   * before` is what clients made Redis run: 0 proves that nothing was sent. Commands a Lua script runs
   * count too (one EVALSHA of a script making 5 calls counts 6); monitor() tells those apart. Counts from
   * 0 again after restart().
   */
  commandCount(): Promise<number>;
  /**
   * Starts recording, by MONITOR, the commands clients send; stop() answers their names (lower case) in
   * order, without those a Lua script ran and without the fixture's own.
   */
  monitor(): Promise<CommandLog>;
}

export interface CommandLog {
  stop(): Promise<string[]>;
}

const START_TIMEOUT_MS = 5000;

/**
 * The wrapper shell lives exactly as long as its redis-server (so its exit tells us the server died), and
 * a watcher it starts kills the server when the wrapper's stdin reaches EOF: when stop() closes it, and
 * also when this process dies in any way (even SIGKILL), since the kernel then closes our end of the
 * pipe. So no redis-server outlives the test run.
 */
const WRAPPER = [
  // A terminal's Ctrl-C reaches the whole process group: the wrapper and watcher outlive it to clean up.
  // (Redis installs its own SIGINT/SIGTERM handlers, so the server itself still hears them.)
  "trap '' INT TERM HUP",
  // Background jobs get /dev/null as stdin: the watcher reads our pipe through fd 3 instead.
  'exec 3<&0',
  'redis-server "$@" 1>&2 </dev/null &',
  'r=$!',
  'echo "$r"',
  '{ while read -r _ <&3; do :; done; kill -9 "$r"; } >/dev/null 2>&1 &',
  'wait "$r"',
].join('\n');

export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

/** `count` distinct free loopback ports: each is held until all are found, so none comes twice. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer().listen(0, '127.0.0.1'));
  try {
    await Promise.all(servers.map((server) => once(server, 'listening')));
    return servers.map((server) => {
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('no TCP address for a free port');
      return address.port;
    });
  } finally {
    await Promise.all(
      servers.map((server) => (server.listening ? once(server.close(), 'close') : undefined)),
    );
  }
}

export interface RedisServerOptions {
  /** More redis-server arguments, e.g. `['--cluster-enabled', 'yes']`; `{port}` in one becomes the port. */
  args?: string[];
  /** This port (tried once) rather than any free one. */
  port?: number;
  /** A configuration file to start from (a Sentinel needs one it can rewrite). */
  configFile?: string;
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  for (let attempt = 1; ; attempt += 1) {
    const server = new PrivateRedisServer(
      options.port ?? (await freePort()),
      options.args ?? [],
      options.configFile,
    );
    try {
      await server.start();
      return server;
    } catch (error) {
      // Another process may take the port between freePort() and redis-server's bind.
      if (attempt === 3 || options.port !== undefined) throw error;
    }
  }
}

class PrivateRedisServer implements RedisServer {
  readonly url: string;
  private wrapper: ChildProcess | undefined;
  private pid: number | undefined;
  private exited: Promise<void> = Promise.resolve();
  private output = '';
  /** PING/INFO this fixture sent to the current server process, left out of commandCount(). */
  private ownCommands = 0;

  constructor(
    readonly port: number,
    private readonly extraArgs: string[] = [],
    private readonly configFile?: string,
  ) {
    this.url = `redis://127.0.0.1:${port}`;
  }

  async start(): Promise<void> {
    this.output = '';
    this.ownCommands = 0;
    const args = [
      ...(this.configFile === undefined ? [] : [this.configFile]),
      ...['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      ...this.extraArgs.map((arg) => arg.replaceAll('{port}', String(this.port))),
    ];
    const wrapper = spawn('sh', ['-c', WRAPPER, 'redis-wrapper', ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.wrapper = wrapper;
    live.add(this);
    this.exited = once(wrapper, 'exit').then(() => {
      live.delete(this);
    });
    wrapper.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.output = (this.output + chunk).slice(-4000);
    });
    const pidLine = new Promise<number>((resolve, reject) => {
      let buffered = '';
      wrapper.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        buffered += chunk;
        const newline = buffered.indexOf('\n');
        if (newline !== -1) resolve(Number(buffered.slice(0, newline)));
      });
      wrapper.once('error', reject);
      wrapper.once('exit', () => reject(new Error(`redis-server did not start:\n${this.output}`)));
    });
    this.pid = await pidLine;
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      try {
        if ((await rawCommand(this.port, ['PING'])) === 'PONG') {
          this.ownCommands += 1;
          // Once running, neither the wrapper nor its pipes keep the test process alive.
          wrapper.unref();
          for (const stream of [wrapper.stdin, wrapper.stdout, wrapper.stderr]) {
            (stream as unknown as { unref?: () => void }).unref?.();
          }
          return;
        }
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline || wrapper.exitCode !== null) {
        await this.stop();
        throw new Error(`redis-server did not answer PING on port ${this.port}:\n${this.output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async stop(): Promise<void> {
    const wrapper = this.wrapper;
    if (wrapper === undefined) return;
    this.wrapper = undefined;
    this.pid = undefined;
    // Unref'd once running: without this, a script with nothing else to do would end before the exit.
    wrapper.ref();
    wrapper.stdin!.end();
    await this.exited;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async freeze(): Promise<void> {
    this.signal('SIGSTOP');
  }

  async thaw(): Promise<void> {
    this.signal('SIGCONT');
  }

  async commandCount(): Promise<number> {
    const info = await rawCommand(this.port, ['INFO', 'stats']);
    const match = /^total_commands_processed:(\d+)/m.exec(info);
    if (match === null) throw new Error('INFO stats has no total_commands_processed');
    const count = Number(match[1]) - this.ownCommands;
    // The INFO just sent is counted from now on, not in its own answer.
    this.ownCommands += 1;
    return count;
  }

  async monitor(): Promise<CommandLog> {
    const socket = createConnection({ host: '127.0.0.1', port: this.port });
    socket.setEncoding('utf8');
    let text = '';
    let changed = () => {};
    socket.on('data', (chunk: string) => {
      text += chunk;
      changed();
    });
    const until = (done: () => boolean) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('MONITOR did not answer')), 2000);
        changed = () => {
          if (done()) {
            clearTimeout(timer);
            resolve();
          }
        };
        socket.once('error', reject);
        changed();
      });
    socket.write(encode(['MONITOR']));
    await until(() => text.startsWith('+OK\r\n'));
    this.ownCommands += 1;

    return {
      stop: async () => {
        // MONITOR lines arrive asynchronously: once our marker shows up, everything before it has too.
        const marker = `monitor-end-${Math.random().toString(36).slice(2)}`;
        await rawCommand(this.port, ['ECHO', marker]);
        this.ownCommands += 1;
        await until(() => text.includes(`"${marker}"`));
        socket.destroy();
        const names: string[] = [];
        for (const line of text.split('\r\n').slice(1)) {
          if (line.includes(`"${marker}"`)) break;
          // +1700000000.123456 [0 127.0.0.1:54321] "evalsha" "…"; a script's own calls show [0 lua].
          const match = /^\+[\d.]+ \[\d+ ([^\]]+)\] "([^"]*)"/.exec(line);
          if (match !== null && match[1] !== 'lua') names.push(match[2]!.toLowerCase());
        }
        return names;
      },
    };
  }

  /**
   * Synchronous, for process exit: the wrapper would do it anyway once our end of its stdin closes, and
   * then reaps the server and exits by itself.
   */
  killNow(): void {
    if (this.pid === undefined) return;
    try {
      process.kill(this.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  private signal(signal: NodeJS.Signals): void {
    if (this.pid === undefined) throw new Error('the redis-server is not running');
    process.kill(this.pid, signal);
  }
}

const live = new Set<PrivateRedisServer>();
process.once('exit', () => {
  for (const server of live) server.killNow();
});

/**
 * One command over a fresh connection, answered as a string: enough for PING and INFO. The fixture uses
 * no client library so that it sends exactly the commands it counts.
 */
export function rawCommand(port: number, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let buffer = Buffer.alloc(0);
    const fail = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.setTimeout(1000, () => fail(new Error('redis-server did not answer')));
    socket.once('error', fail);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      const reply = parseReply(buffer);
      if (reply === undefined) return;
      socket.end();
      if (reply instanceof Error) reject(reply);
      else resolve(reply);
    });
    socket.write(encode(args));
  });
}

function encode(args: string[]): string {
  return `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`;
}

/** A complete simple-string, error, integer or bulk reply; undefined while incomplete. */
function parseReply(buffer: Buffer): string | Error | undefined {
  const lineEnd = buffer.indexOf('\r\n');
  if (lineEnd === -1) return undefined;
  const type = String.fromCharCode(buffer[0]!);
  const line = buffer.subarray(1, lineEnd).toString('utf8');
  if (type === '+' || type === ':') return line;
  if (type === '-') return new Error(line);
  if (type === '$') {
    const length = Number(line);
    if (length < 0) return '';
    const start = lineEnd + 2;
    if (buffer.length < start + length + 2) return undefined;
    return buffer.subarray(start, start + length).toString('utf8');
  }
  return new Error(`unexpected reply type ${type}`);
}

/** Asks `check` every 50 ms until it answers true (a throw counts as not yet), for at most `ms`. */
export async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // a server busy with the change: ask again
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
