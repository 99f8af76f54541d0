/**
 * Starting the service as its own process, and a private redis-server: one module for the bench
 * (scripts/bench), the load test (scripts/load.ts) and the process tests (test/server).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isAbsolute, join, relative } from 'node:path';

export { freePort, type RedisServer, startRedisServer } from '../../test/setup/redis.js';

export const ROOT = new URL('../../', import.meta.url).pathname;

/** taskset is there and there is a second core to put the load generator on. */
export const canPin = (() => {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return availableParallelism() >= 2;
  } catch {
    return false;
  }
})();

/** Pins a process (every thread) to `cores`, e.g. '1' or '0,1'; nothing without taskset. */
export function pin(pid: number, cores: string): void {
  if (canPin) execFileSync('taskset', ['-a', '-p', '-c', cores, String(pid)], { stdio: 'ignore' });
}

export interface ServiceOptions {
  /**
   * What to run, relative to the repository or absolute: a .ts file runs through tsx (as `npm run dev`),
   * a .js file with node alone (as `npm start`). Default src/server.ts.
   */
  entry?: string;
  /** The whole environment besides PATH and HOME: nothing of this process's leaks in. */
  env?: Record<string, string>;
  /** Options for node itself, e.g. `['--cpu-prof']`. */
  nodeOptions?: string[];
  /** Run on these cores only (taskset -c), where pinning is possible. */
  cores?: string;
  /**
   * How many characters of output (stdout and stderr together) to keep for output() and match(): the
   * last ones. Default all; a bench keeps a tail, since every request writes a line.
   */
  keep?: number;
}

export interface ServiceProcess {
  child: ChildProcess;
  pid: number;
  /** The output so far (or its tail, see `keep`). */
  output(): string;
  /** The first match of `pattern` in the output, waiting up to `ms`; rejects with the output if none. */
  match(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>;
  /** `count` matches of `pattern` (global), waiting up to `ms`. */
  matches(pattern: RegExp, count: number, ms?: number): Promise<RegExpMatchArray[]>;
  /** Waits for the first 200 of GET `url`/healthz. */
  healthy(url: string, ms?: number): Promise<void>;
  /** CPU time the process (every thread, not its children) has used, seconds; NaN without /proc. */
  cpuSeconds(): number;
  /** Resident memory, bytes; NaN without /proc. */
  rssBytes(): number;
  /** Signals the process (SIGTERM by default) and answers its exit code once it has exited. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts the service (or any entry) as its own process, stdout and stderr piped to this one. */
export function startService(options: ServiceOptions = {}): ServiceProcess {
  const entry = options.entry ?? 'src/server.ts';
  const node = [
    process.execPath,
    ...(options.nodeOptions ?? []),
    ...(entry.endsWith('.ts') ? ['--import', 'tsx'] : []),
    entry,
  ];
  const command = options.cores !== undefined && canPin ? ['taskset', '-c', options.cores, ...node] : node;
  // taskset execs node, so the pid is the service's own.
  const child = spawn(command[0]!, command.slice(1), {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = options.keep ?? Number.POSITIVE_INFINITY;
  let text = '';
  const collect = (chunk: Buffer) => {
    text += chunk.toString();
    if (text.length > keep * 2) text = text.slice(-keep);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const output = () => (text.length > keep ? text.slice(-keep) : text);

  async function matches(pattern: RegExp, count: number, ms = 20_000): Promise<RegExpMatchArray[]> {
    const global = new RegExp(
      pattern.source,
      pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`,
    );
    const deadline = Date.now() + ms;
    for (;;) {
      const found = [...output().matchAll(global)];
      if (found.length >= count) return found;
      if (Date.now() > deadline || child.exitCode !== null || child.signalCode !== null)
        throw new Error(`${entry}: no ${pattern} in its output:\n${output().slice(-4000)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  return {
    child,
    pid: child.pid!,
    output,
    matches,
    match: async (pattern, ms) => (await matches(pattern, 1, ms))[0]!,
    async healthy(url, ms = 30_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`${entry} exited at start:\n${output().slice(-4000)}`);
        try {
          if ((await fetch(`${url}/healthz`)).ok) return;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline)
          throw new Error(`${entry} did not answer /healthz:\n${output().slice(-4000)}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    cpuSeconds() {
      try {
        // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
        const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
        return (Number(fields[11]) + Number(fields[12])) / 100;
      } catch {
        return Number.NaN;
      }
    },
    rssBytes() {
      try {
        const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        return kb ? Number(kb[1]) * 1024 : Number.NaN;
      } catch {
        return Number.NaN;
      }
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/**
 * Compiles src as `npm run build` does (tsconfig.build.json) into `outDir` under the repository, so that
 * the output finds node_modules as dist/ does, and answers the directory. A fresh directory cannot be
 * stale. Without type checking (tsc --noCheck: emit only), which `npm run typecheck` does, and which
 * would fail a run on a type error elsewhere that changes nothing of what is emitted.
 */
export function build(outDir: string): string {
  const dir = isAbsolute(outDir) ? outDir : join(ROOT, outDir);
  if (relative(ROOT, dir).startsWith('..')) throw new Error(`${dir}: not inside ${ROOT}`);
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--noCheck', '--outDir', dir], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`npm run build into ${dir} failed:\n${stdout ?? ''}${stderr ?? ''}`);
  }
  if (!existsSync(join(dir, 'server.js'))) throw new Error(`the build made no ${dir}/server.js`);
  return dir;
}
