import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** nginx from PATH, or Debian's /usr/sbin (not on a non-root PATH); undefined when it is not installed. */
export function nginxBinary(): string | undefined {
  for (const candidate of ['nginx', '/usr/sbin/nginx']) {
    try {
      execFileSync(candidate, ['-v'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // not this one
    }
  }
  return undefined;
}

/**
 * The nginx of the README's "nginx auth_request" block, as an operator would deploy it: that block is
 * read from README.md, its two upstream addresses and its listen port replaced by the test's.
 */
export function readmeNginxBlock(ports: { wxauth: number; service: number; nginx: number }): string {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const match = /<!-- nginx:start -->\s*```nginx\n([\s\S]*?)```\s*<!-- nginx:end -->/.exec(readme);
  if (!match)
    throw new Error('README.md has no ```nginx block between <!-- nginx:start --> and <!-- nginx:end -->');
  const block = match[1]!;
  for (const expected of ['server 127.0.0.1:3000;', 'server 127.0.0.1:8080;', 'listen 80;'])
    if (!block.includes(expected)) throw new Error(`the README's nginx block no longer has "${expected}"`);
  return block
    .replace('server 127.0.0.1:3000;', `server 127.0.0.1:${ports.wxauth};`)
    .replace('server 127.0.0.1:8080;', `server 127.0.0.1:${ports.service};`)
    .replace('listen 80;', `listen 127.0.0.1:${ports.nginx};`);
}

export interface Nginx {
  url: string;
  /** nginx's error log so far. */
  log(): string;
  stop(): Promise<void>;
}

/**
 * A private nginx on `port`, with its own prefix, config, pid, logs and temp paths under a temp dir:
 * never the machine's nginx service. A watcher ends it when this process goes away, however it dies.
 */
export async function startNginx(binary: string, port: number, httpBlock: string): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'wxauth-nginx-'));
  for (const sub of ['logs', 'temp']) mkdirSync(join(dir, sub));
  const conf = join(dir, 'nginx.conf');
  const asRoot = process.getuid?.() === 0;
  writeFileSync(
    conf,
    [
      'daemon off;',
      'worker_processes 1;',
      // As root nginx would run its worker as nobody, which cannot enter a private temp dir.
      asRoot ? 'user root;' : '',
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/logs/error.log warn;`,
      'events { worker_connections 64; }',
      'http {',
      '  access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
        (t) => `  ${t}_temp_path ${dir}/temp/${t};`,
      ),
      httpBlock,
      '}',
    ].join('\n'),
  );
  const watcher = [
    'exec 3<&0',
    '"$@" </dev/null &',
    'n=$!',
    '{ while read -r _ <&3; do :; done; kill -QUIT "$n"; sleep 2; kill -9 "$n"; } >/dev/null 2>&1 &',
    'wait "$n"',
  ].join('\n');
  const child: ChildProcess = spawn(
    'sh',
    ['-c', watcher, 'nginx-wrapper', binary, '-p', dir, '-c', conf, '-e', join(dir, 'logs/error.log')],
    { stdio: ['pipe', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = once(child, 'exit');
  const log = () => {
    const file = join(dir, 'logs/error.log');
    return `${stderr}${existsSync(file) ? readFileSync(file, 'utf8') : ''}`;
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited at start:\n${log()}`);
    if (await accepts(port)) break;
    if (Date.now() > deadline) {
      child.stdin!.end();
      throw new Error(`nginx did not listen on ${port} within 10 s:\n${log()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
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
