import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The gateways whose configuration docs/verify-tokens.md ships, each run for real from exactly its block
 * (its addresses replaced by the test's): nginx `auth_request` and Caddy `forward_auth`.
 */
export interface GatewayKind {
  name: string;
  /** The Debian package that brings it, for the message when it is missing. */
  debian: string;
  /** Its binary from PATH or /usr/sbin; undefined when it is not installed. */
  binary(): string | undefined;
  start(binary: string, ports: GatewayPorts): Promise<Gateway>;
}

export interface GatewayPorts {
  wxauth: number;
  service: number;
  gateway: number;
}

export interface Gateway {
  url: string;
  /** The gateway's own output and error log so far. */
  log(): string;
  stop(): Promise<void>;
}

/** A binary from PATH, or Debian's /usr/sbin or /usr/bin (not on every PATH). */
function findBinary(name: string, versionFlag: string): string | undefined {
  for (const candidate of [name, `/usr/sbin/${name}`, `/usr/bin/${name}`]) {
    try {
      execFileSync(candidate, [versionFlag], { stdio: 'ignore' });
      return candidate;
    } catch {
      // not this one
    }
  }
  return undefined;
}

/** The guide's block between `<!-- NAME:start -->` and `<!-- NAME:end -->`, with `replace`d addresses. */
function guideBlock(name: string, fence: string, replace: Array<[string, string]>): string {
  const guide = readFileSync(new URL('../../docs/verify-tokens.md', import.meta.url), 'utf8');
  const match = new RegExp(
    `<!-- ${name}:start -->\\s*\`\`\`${fence}\\n([\\s\\S]*?)\`\`\`\\s*<!-- ${name}:end -->`,
  ).exec(guide);
  if (!match)
    throw new Error(
      `docs/verify-tokens.md has no \`\`\`${fence} block between <!-- ${name}:start --> and <!-- ${name}:end -->`,
    );
  let block = match[1]!;
  for (const [from, to] of replace) {
    if (!block.includes(from)) throw new Error(`the guide's ${name} block no longer has "${from}"`);
    block = block.replaceAll(from, to);
  }
  return block;
}

export const nginx: GatewayKind = {
  name: 'nginx auth_request',
  debian: 'nginx-light',
  binary: () => findBinary('nginx', '-v'),
  async start(binary, ports) {
    const block = guideBlock('nginx', 'nginx', [
      ['server 127.0.0.1:3000;', `server 127.0.0.1:${ports.wxauth};`],
      ['server 127.0.0.1:8080;', `server 127.0.0.1:${ports.service};`],
      ['listen 80;', `listen 127.0.0.1:${ports.gateway};`],
    ]);
    const dir = mkdtempSync(join(tmpdir(), 'wxauth-nginx-'));
    for (const sub of ['logs', 'temp']) mkdirSync(join(dir, sub));
    const conf = join(dir, 'nginx.conf');
    writeFileSync(
      conf,
      [
        'daemon off;',
        'worker_processes 1;',
        // As root nginx would run its worker as nobody, which cannot enter a private temp dir.
        process.getuid?.() === 0 ? 'user root;' : '',
        `pid ${dir}/nginx.pid;`,
        `error_log ${dir}/logs/error.log warn;`,
        'events { worker_connections 64; }',
        'http {',
        '  access_log off;',
        ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
          (t) => `  ${t}_temp_path ${dir}/temp/${t};`,
        ),
        block,
        '}',
      ].join('\n'),
    );
    return startWatched({
      name: 'nginx',
      command: [binary, '-p', dir, '-c', conf, '-e', join(dir, 'logs/error.log')],
      port: ports.gateway,
      logFile: join(dir, 'logs/error.log'),
    });
  },
};

export const caddy: GatewayKind = {
  name: 'Caddy forward_auth',
  debian: 'caddy',
  binary: () => findBinary('caddy', 'version'),
  async start(binary, ports) {
    const block = guideBlock('caddy', 'caddy', [
      ['api.example.com', `http://127.0.0.1:${ports.gateway}`],
      ['wxauth:3000', `127.0.0.1:${ports.wxauth}`],
      ['orders:8080', `127.0.0.1:${ports.service}`],
    ]);
    const dir = mkdtempSync(join(tmpdir(), 'wxauth-caddy-'));
    const conf = join(dir, 'Caddyfile');
    // No admin endpoint (it would take port 2019) and no certificates: a plain-HTTP site on loopback.
    writeFileSync(conf, `{\n\tadmin off\n\tauto_https off\n}\n\n${block}`);
    return startWatched({
      name: 'caddy',
      command: [binary, 'run', '--config', conf, '--adapter', 'caddyfile'],
      port: ports.gateway,
      // Caddy's own data and config folders, never the machine's.
      env: {
        ...process.env,
        HOME: dir,
        XDG_DATA_HOME: join(dir, 'data'),
        XDG_CONFIG_HOME: join(dir, 'config'),
      },
    });
  },
};

/**
 * Runs `command` under a watcher that ends it when this process goes away, however it dies, and waits
 * until it accepts connections on `port`.
 */
async function startWatched(options: {
  name: string;
  command: string[];
  port: number;
  logFile?: string;
  env?: NodeJS.ProcessEnv;
}): Promise<Gateway> {
  const watcher = [
    'exec 3<&0',
    '"$@" </dev/null &',
    'n=$!',
    '{ while read -r _ <&3; do :; done; kill -QUIT "$n"; sleep 2; kill -9 "$n"; } >/dev/null 2>&1 &',
    'wait "$n"',
  ].join('\n');
  const child: ChildProcess = spawn('sh', ['-c', watcher, `${options.name}-wrapper`, ...options.command], {
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(options.env ? { env: options.env } : {}),
  });
  let output = '';
  for (const stream of [child.stdout!, child.stderr!])
    stream.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
  const exited = once(child, 'exit');
  const log = () => {
    const file = options.logFile;
    return `${output}${file && existsSync(file) ? readFileSync(file, 'utf8') : ''}`;
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${options.name} exited at start:\n${log()}`);
    if (await accepts(options.port)) break;
    if (Date.now() > deadline) {
      child.stdin!.end();
      throw new Error(`${options.name} did not listen on ${options.port} within 10 s:\n${log()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url: `http://127.0.0.1:${options.port}`,
    log,
    async stop() {
      if (child.exitCode !== null) return;
      child.stdin!.end();
      await exited;
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
