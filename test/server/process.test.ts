import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { expect } from 'chai';

const ROOT = new URL('../../', import.meta.url).pathname;

interface Started {
  child: ChildProcess;
  output: () => string;
}

/** Starts `src/server.ts` as `npm start` does, with only the given environment. */
function startServer(env: Record<string, string>): Started {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  return { child, output: () => text };
}

async function waitFor(started: Started, pattern: RegExp, ms = 15000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const match = started.output().match(pattern);
    if (match) return match;
    if (started.child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no ${pattern} in output:\n${started.output()}`);
}

function bash(script: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', ['-c', script], { timeout: 20000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}\n${stdout}\n${stderr}`)) : resolve(stdout),
    );
  });
}

describe('the process (npm start)', function () {
  this.timeout(40000);
  let started: Started | undefined;
  afterEach(() => {
    if (started && started.child.exitCode === null) started.child.kill('SIGKILL');
    started = undefined;
  });

  it('starts with no settings, announces each default, and prints a walk-through that works as printed', async () => {
    started = startServer({ PORT: '0' });
    await waitFor(started, /%\{http_code\}\\n'\n/);
    const text = started.output();
    for (const setting of ['WECHAT_APPID', 'JWT_SIGNING_KEYS_FILE', 'REDIS_URL']) {
      expect(text.split('\n').filter((l) => l.includes('WARNING') && l.includes(setting))).to.have.length(1);
    }
    const script = text.slice(
      text.indexOf('json() {'),
      text.indexOf("%{http_code}\\n'") + "%{http_code}\\n'".length,
    );
    const out = await bash(script);
    const lines = out.trim().split('\n');
    expect(JSON.parse(lines[0]!)).to.include({ token_type: 'Bearer', is_new_user: true });
    expect(JSON.parse(lines[1]!)).to.have.keys('openid', 'exp');
    expect(JSON.parse(lines[2]!)).to.include({ token_type: 'Bearer' });
    expect(lines[3]).to.equal('204');
  });

  it('on SIGTERM finishes the request in flight, then exits 0', async () => {
    started = startServer({ PORT: '0', LOG_LEVEL: 'info' });
    const [, service] = await waitFor(started, /wxauth is listening on (http:\/\/127\.0\.0\.1:\d+)/);
    const [, emulator] = await waitFor(started, /WeChat emulator on (http:\/\/127\.0\.0\.1:\d+)/);
    const { code } = (await (await fetch(`${emulator}/__emulator/login`, { method: 'POST' })).json()) as {
      code: string;
    };
    await fetch(`${emulator}/__emulator/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ api: 'jscode2session', mode: 'slow', delayMs: 1500 }),
    });
    const inFlight = fetch(`${service}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code }),
    });
    await new Promise((r) => setTimeout(r, 400));
    started.child.kill('SIGTERM');
    const response = await inFlight;
    expect(response.status).to.equal(200);
    const [exitCode] = await once(started.child, 'exit');
    expect(exitCode).to.equal(0);
    expect(started.output()).to.contain('shutting down');
  });

  it('refuses to start in production without its settings, naming every one in one line', async () => {
    started = startServer({ NODE_ENV: 'production' });
    const [exitCode] = await once(started.child, 'exit');
    expect(exitCode).to.equal(1);
    const lines = started.output().trim().split('\n');
    expect(lines).to.have.length(1);
    for (const name of [
      'WECHAT_APPID',
      'WECHAT_SECRET',
      'JWT_SIGNING_KEYS_FILE',
      'SESSION_KEY_ENCRYPTION_KEYS',
      'REDIS_URL',
    ])
      expect(lines[0]).to.contain(name);
  });
});
