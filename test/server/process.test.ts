import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { expect } from 'chai';
import { freePort, type ServiceProcess, startService } from '../../scripts/lib/spawn.js';

/** Runs src/server.ts through tsx (as `npm run dev`), with only the given environment. */
const startServer = (env: Record<string, string>) => startService({ env });
const waitFor = (started: ServiceProcess, pattern: RegExp, ms = 15000) => started.match(pattern, ms);

/** The JSON log line saying where the service listens. */
async function listeningLine(started: ServiceProcess): Promise<{ host?: string; port: number }> {
  const [line] = await waitFor(started, /^\{.*"msg":"wxauth listening on.*$/m);
  return JSON.parse(line) as { host?: string; port: number };
}

function get(agent: Agent, url: string): Promise<{ status: number; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent, timeout: 5000 }, (res) => {
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      res.resume();
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** Resolves when `promise` does, or rejects with `what` after `ms`. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** A kept-alive connection that sent one request, got its answer and now sits idle. */
async function idleConnection(port: number) {
  const socket = connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString();
  });
  const closed = once(socket, 'close');
  socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  while (!received.includes('{"status":"ok"}')) await once(socket, 'data');
  return { socket, received: () => received, closed };
}

function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

const nonLoopbackAddress = () =>
  Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

/** A code of the emulator's first app (the Shop mini-program), and that app's appid to log in with. */
async function shopCode(emulator: string): Promise<{ code: string; appid: string }> {
  const { apps } = (await (await fetch(`${emulator}/__emulator/apps`)).json()) as {
    apps: { appid: string; kind: string }[];
  };
  const appid = apps.find((app) => app.kind === 'miniprogram')!.appid;
  const login = await fetch(`${emulator}/__emulator/login`, {
    method: 'POST',
    body: JSON.stringify({ appid }),
  });
  return { code: ((await login.json()) as { code: string }).code, appid };
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
  let started: ServiceProcess | undefined;
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
    const shop = JSON.parse(lines[0]!) as { openid: string; unionid?: string };
    expect(shop).to.include({ token_type: 'Bearer', is_new_user: true });
    expect(shop.unionid).to.be.a('string');
    expect(JSON.parse(lines[1]!)).to.deep.include({ openid: shop.openid });
    expect(JSON.parse(lines[2]!)).to.include({ token_type: 'Bearer', openid: shop.openid });
    // The mobile App: the same person (unionid), another openid.
    const app = JSON.parse(lines[3]!) as { openid: string; unionid?: string };
    expect(app).to.include({ token_type: 'Bearer', unionid: shop.unionid });
    expect(app.openid).not.to.equal(shop.openid);
    const { sessions } = JSON.parse(lines[4]!) as { sessions: { app: { name: string; kind: string } }[] };
    expect(sessions.map(({ app: { name, kind } }) => ({ name, kind }))).to.deep.equal([
      { name: 'Mobile app', kind: 'mobile' },
      { name: 'Shop mini-program', kind: 'miniprogram' },
    ]);
    expect(lines[5]).to.equal('204');
    expect(lines).to.have.length(6);
  });

  for (const port of ['a free port', '0']) {
    it(`with no settings on ${port === '0' ? 'PORT=0' : port}, prints the URL that its tokens and discovery name as issuer`, async () => {
      started = startServer({ PORT: port === '0' ? '0' : String(await freePort()) });
      const [, printed] = await waitFor(started, /wxauth is listening on (\S+), with the built-in/);
      const [, emulator] = await waitFor(started, /WeChat emulator on (http:\/\/127\.0\.0\.1:\d+)/);
      // Several mini-programs with nothing configured: a login names its app.
      const login = await fetch(`${printed}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(await shopCode(emulator!)),
      });
      expect(login.status).to.equal(200);
      const { access_token } = (await login.json()) as { access_token: string };
      const claims = JSON.parse(Buffer.from(access_token.split('.')[1]!, 'base64url').toString()) as {
        iss: string;
      };
      expect(claims.iss).to.equal(printed);
      const discovery = (await (await fetch(`${printed}/.well-known/openid-configuration`)).json()) as {
        issuer: string;
        jwks_uri: string;
      };
      expect(discovery.issuer).to.equal(printed);
      expect(discovery.jwks_uri).to.equal(`${printed}/.well-known/jwks.json`);
      expect((await fetch(discovery.jwks_uri)).status).to.equal(200);
    });
  }

  it('starts, logs in, refreshes and stops without a warning from Node (no deprecation on any supported Node)', async () => {
    started = startServer({ PORT: '0' });
    await waitFor(started, /%\{http_code\}\\n'\n/);
    const text = started.output();
    // The walk-through signs tokens at login and refresh: whatever Node warns about then is seen too.
    await bash(
      text.slice(text.indexOf('json() {'), text.indexOf("%{http_code}\\n'") + "%{http_code}\\n'".length),
    );
    expect(await started.stop()).to.equal(0);
    // Node writes its warnings to stderr as "(node:<pid>) [DEP0…] DeprecationWarning: …".
    const warnings = started
      .output()
      .split('\n')
      .filter((line) => /^\(node:\d+\)|Warning: /.test(line));
    expect(warnings, `on Node ${process.version}`).to.deep.equal([]);
  });

  it('on SIGTERM finishes the request in flight, then exits 0', async () => {
    started = startServer({ PORT: '0', LOG_LEVEL: 'info' });
    const [, service] = await waitFor(started, /wxauth is listening on (http:\/\/localhost:\d+)/);
    const [, emulator] = await waitFor(started, /WeChat emulator on (http:\/\/127\.0\.0\.1:\d+)/);
    const login = await shopCode(emulator!);
    await fetch(`${emulator}/__emulator/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ api: 'jscode2session', mode: 'slow', delayMs: 1500 }),
    });
    const inFlight = fetch(`${service}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(login),
    });
    await new Promise((r) => setTimeout(r, 400));
    started.child.kill('SIGTERM');
    const response = await inFlight;
    expect(response.status).to.equal(200);
    const [exitCode] = await once(started.child, 'exit');
    expect(exitCode).to.equal(0);
    expect(started.output()).to.contain('shutting down');
  });

  it('on SIGTERM answers a waiting web-login long poll at once with its status, then exits 0', async () => {
    started = startServer({ PORT: '0', LOG_LEVEL: 'info', SHUTDOWN_TIMEOUT_MS: '20000' });
    const [, service] = await waitFor(started, /wxauth is listening on (http:\/\/localhost:\d+)/);
    const qr = (await (await fetch(`${service}/auth/qr`, { method: 'POST' })).json()) as {
      ticket: string;
      poll_token: string;
    };
    const waiting = fetch(`${service}/auth/qr/${qr.ticket}/poll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ poll_token: qr.poll_token, wait: 25 }),
    });
    await new Promise((r) => setTimeout(r, 500));
    const signaled = performance.now();
    started.child.kill('SIGTERM');
    const response = await within(3000, 'the poll answered after SIGTERM', waiting);
    expect(response.status).to.equal(200);
    expect(await response.json()).to.deep.equal({ status: 'pending' });
    expect(response.headers.get('connection')).to.equal('close');
    const [exitCode] = await within(3000, 'exit after SIGTERM', once(started.child, 'exit'));
    expect(exitCode).to.equal(0);
    expect(performance.now() - signaled).to.be.below(3000);
  });

  it('on SIGTERM under keep-alive load loses no request: later answers say Connection: close, idle connections close, and it exits 0 promptly', async () => {
    started = startServer({ PORT: '0', LOG_LEVEL: 'warn', SHUTDOWN_TIMEOUT_MS: '10000' });
    const [, service] = await waitFor(started, /wxauth is listening on (http:\/\/localhost:(\d+))/);
    const idle = await idleConnection(Number(new URL(service!).port));
    const agent = new Agent({ keepAlive: true });
    const deadline = Date.now() + 8000;
    const lost: string[] = [];
    let refused = 0;
    let served = 0;
    /** The Connection header of the last answer each loop got. */
    const last: (string | undefined)[] = [];
    const loop = async (i: number) => {
      for (let n = 0; n < 5000 && Date.now() < deadline; n += 1) {
        try {
          const res = await get(agent, `${service}/healthz`);
          served += 1;
          last[i] = res.headers.connection;
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          // A new connection after a clean close, refused because the port no longer listens: fine.
          if (code === 'ECONNREFUSED') refused += 1;
          else lost.push(`${code ?? ''} ${(error as Error).message}`);
          return;
        }
      }
    };
    const loops = Array.from({ length: 16 }, (_, i) => loop(i));
    while (served < 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const signalled = Date.now();
    started.child.kill('SIGTERM');
    const exited = once(started.child, 'exit');
    await Promise.all(loops);
    agent.destroy();
    await within(3000, 'the idle connection closed', idle.closed);
    const [exitCode] = await within(5000, 'exit after SIGTERM', exited);
    const tookMs = Date.now() - signalled;
    expect(lost, lost.join('\n')).to.deep.equal([]);
    expect(last).to.deep.equal(Array(16).fill('close'));
    expect(refused).to.equal(16);
    expect(exitCode).to.equal(0);
    expect(tookMs).to.be.below(3000);
  });

  it('keeps answering while nothing reads its log, and writes every request line before it exits on SIGTERM', async () => {
    started = startServer({ PORT: '0', LOG_LEVEL: 'info' });
    const [, service] = await waitFor(started, /wxauth is listening on (http:\/\/localhost:\d+)/);
    // Lines of some 330 bytes (the path is logged up to 200 characters): 3,000 of them are more than the
    // pipe and what this process reads ahead hold, so that writing them synchronously would block.
    const path = `/${'x'.repeat(199)}`;
    const count = 3000;
    started.child.stdout!.pause();
    const agent = new Agent({ keepAlive: true });
    let sent = 0;
    const loop = async () => {
      while (sent < count) {
        sent += 1;
        expect((await get(agent, `${service}${path}`)).status).to.equal(404);
      }
    };
    await within(
      20000,
      `${count} answers while the log is not read`,
      Promise.all(Array.from({ length: 8 }, loop)),
    );
    agent.destroy();
    started.child.stdout!.resume();
    started.child.kill('SIGTERM');
    // 'close': the process has exited and its output is all read.
    const [exitCode] = await within(10000, 'exit after SIGTERM', once(started.child, 'close'));
    expect(exitCode).to.equal(0);
    const lines = started.output().split('\n');
    expect(lines.filter((line) => line.includes(`"path":"${path}"`))).to.have.length(count);
    expect(lines.some((line) => line.includes('"msg":"stopped"'))).to.equal(true);
  });

  it('closes an idle keep-alive connection after HTTP_KEEP_ALIVE_TIMEOUT_MS', async () => {
    started = startServer({ PORT: '0', HTTP_KEEP_ALIVE_TIMEOUT_MS: '1500' });
    const [, port] = await waitFor(started, /wxauth is listening on http:\/\/localhost:(\d+)/);
    const idle = await idleConnection(Number(port));
    const answered = Date.now();
    await within(4500, 'the server closing the idle connection', idle.closed);
    // Node closes 1 s after the timeout it announces (Keep-Alive: timeout=1 here); its default is 5 s.
    expect(Date.now() - answered).to.be.within(1200, 3500);
  });

  it('keeps idle keep-alive connections 65 s by default, longer than the 60 s of common load balancers', async () => {
    started = startServer({ PORT: '0' });
    const [, service] = await waitFor(started, /wxauth is listening on (http:\/\/localhost:\d+)/);
    const agent = new Agent({ keepAlive: true });
    const res = await get(agent, `${service}/healthz`);
    agent.destroy();
    expect(res.headers['keep-alive']).to.equal('timeout=65');
  });

  it('serves /metrics only on METRICS_PORT, on 127.0.0.1 by default, and 404 for it on the public port', async () => {
    started = startServer({ PORT: '0', METRICS_PORT: '0', LOG_LEVEL: 'info' });
    const [, service] = await waitFor(started, /wxauth is listening on (http:\/\/localhost:\d+)/);
    const [, metricsUrl] = await waitFor(started, /metrics on (http:\/\/127\.0\.0\.1:\d+)\/metrics/);
    await fetch(`${service}/healthz`);
    const scraped = await fetch(`${metricsUrl}/metrics`);
    expect(scraped.status).to.equal(200);
    expect(scraped.headers.get('content-type')).to.match(/^text\/plain/);
    expect(await scraped.text()).to.contain('wxauth_http_requests_total{route="/healthz"');
    const publicly = await fetch(`${service}/metrics`);
    expect(publicly.status).to.equal(404);
    expect(((await publicly.json()) as { error: string }).error).to.equal('invalid_request');
    expect((await fetch(`${metricsUrl}/healthz`)).status).to.equal(404);
    started.child.kill('SIGTERM');
    const [exitCode] = await within(5000, 'exit after SIGTERM', once(started.child, 'exit'));
    expect(exitCode).to.equal(0);
  });

  it('listens on 127.0.0.1 only with the embedded defaults (the emulator)', async () => {
    started = startServer({ PORT: '0' });
    const { host, port } = await listeningLine(started);
    expect(host).to.equal('127.0.0.1');
    const external = nonLoopbackAddress();
    if (external) expect(await connects(external, port), `connect to ${external}:${port}`).to.equal(false);
  });

  it('listens on every interface when WeChat credentials are set', async () => {
    started = startServer({ PORT: '0', WECHAT_APPID: 'wx1234567890abcdef', WECHAT_SECRET: 'abc123' });
    const { host, port } = await listeningLine(started);
    expect(host).to.be.oneOf(['::', '0.0.0.0']);
    const external = nonLoopbackAddress();
    if (external) expect(await connects(external, port), `connect to ${external}:${port}`).to.equal(true);
  });

  it('names PORT in one line, written after every log line, when the port is taken, and exits 1', async () => {
    const taken = createServer();
    taken.listen(0, '127.0.0.1');
    await once(taken, 'listening');
    try {
      const { port } = taken.address() as AddressInfo;
      started = startServer({ PORT: String(port) });
      const [exitCode] = await once(started.child, 'exit');
      expect(exitCode).to.equal(1);
      const text = started.output();
      const notLogLines = text
        .trim()
        .split('\n')
        .filter((line) => !line.startsWith('{'));
      expect(notLogLines).to.deep.equal([
        `wxauth: cannot start: PORT: 127.0.0.1 port ${port} is in use by another process; stop it, or set PORT to a free port (0: any)`,
      ]);
      // Written last: the buffered log lines went out before it.
      expect(text.trimEnd().endsWith(notLogLines[0]!)).to.equal(true);
    } finally {
      taken.close();
    }
  });

  it('refuses to start with a real store and no WeChat credentials, outside production too, in one line naming WECHAT_APPID', async () => {
    // NODE_ENV unset, as in most containers: the emulator must not come up beside a real Redis.
    started = startServer({ PORT: '0', REDIS_URL: 'redis://127.0.0.1:9' });
    const outcome = await Promise.race([
      once(started.child, 'exit').then(([code]) => `exit ${String(code)}`),
      listeningLine(started).then(() => 'listening'),
    ]);
    expect(outcome, started.output()).to.equal('exit 1');
    const lines = started.output().trim().split('\n');
    expect(lines).to.have.length(1);
    expect(lines[0]).to.match(/^wxauth: cannot start: .*WECHAT_APPID/);
    expect(lines[0]).to.contain('REDIS_URL');
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
