import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { expect } from 'chai';
import { type ServiceProcess, startService } from '../../scripts/lib/spawn.js';
import { systemClock } from '../../src/lib/index.js';
import { createAccessTokens, generatePrivateJwks, keySetFromJwks } from '../../src/tokens/index.js';
import { startRedisServer, testRedis } from '../setup/hooks.js';
import { freePort, until } from '../setup/redis.js';

/** GET on a new connection each time, so that node:cluster hands each to the next worker. */
function getOnce(url: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { headers: { authorization: `Bearer ${token}`, connection: 'close' } },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.once('error', reject);
    req.end();
  });
}

describe('every core (npm run start:workers)', function () {
  this.timeout(40_000);
  let service: ServiceProcess | undefined;
  let child: ChildProcess | undefined;
  const output = () => service?.output() ?? '';

  afterEach(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    child = undefined;
  });

  const waitFor = (pattern: RegExp, count = 1, ms = 20_000) => service!.matches(pattern, count, ms);

  function start(env: Record<string, string>): void {
    service = startService({ entry: 'src/workers.ts', env });
    child = service.child;
  }

  it('runs WORKERS servers behind one port that share one key and one emulator, and stops them all on SIGTERM', async () => {
    const redis = await testRedis();
    start({
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: 'workers-test:',
      WECHAT_EMULATOR: '1',
      WORKERS: '2',
      PORT: '0',
      LOG_LEVEL: 'info',
    });
    const listening = await waitFor(/"msg":"wxauth listening on [^"]*?(\d+)"/, 2);
    const ports = new Set(listening.map((match) => match[1]));
    expect(ports.size, 'one port for every worker').to.equal(1);
    // The embedded emulator: loopback only, as npm start, although the workers see its credentials.
    expect(output().match(/"host":"127\.0\.0\.1"[^\n]*"msg":"wxauth listening/g)).to.have.length(2);
    const base = `http://127.0.0.1:${[...ports][0]}`;
    const [[, emulator]] = (await waitFor(/emulator at (http:\/\/127\.0\.0\.1:\d+)/)) as [RegExpMatchArray];

    // Every app of npm start's zero-config emulator: a login names its app.
    const { apps } = (await (await fetch(`${emulator}/__emulator/apps`)).json()) as {
      apps: { appid: string; kind: string; name: string }[];
    };
    expect(apps.map((app) => app.kind)).to.deep.equal([
      'miniprogram',
      'miniprogram',
      'mobile',
      'official_account',
      'website',
    ]);
    const { code } = (await (
      await fetch(`${emulator}/__emulator/login`, {
        method: 'POST',
        body: JSON.stringify({ appid: apps[0]!.appid }),
      })
    ).json()) as { code: string };
    const login = await fetch(`${base}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code, appid: apps[0]!.appid }),
    });
    expect(login.status).to.equal(200);
    const { access_token: token } = (await login.json()) as { access_token: string };
    // Connections go to the workers in turn: each of them verifies the token the other signed.
    for (let i = 0; i < 6; i += 1) expect((await getOnce(`${base}/auth/me`, token)).status).to.equal(200);

    child!.kill('SIGTERM');
    const [status] = (await once(child!, 'exit')) as [number | null];
    expect(status).to.equal(0);
    expect(output().match(/"msg":"stopped"/g)).to.have.length(3);
  });

  it("passes the emulator's apps to the workers in a private apps file, removed at exit: each app logs in", async () => {
    const redis = await testRedis();
    start({
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: 'workers-apps-test:',
      WECHAT_EMULATOR: '1',
      WORKERS: '2',
      PORT: '0',
      LOG_LEVEL: 'info',
    });
    const listening = await waitFor(/"msg":"wxauth listening on [^"]*?(\d+)"/, 2);
    const base = `http://127.0.0.1:${listening[0]![1]}`;
    const [[, emulator]] = (await waitFor(/emulator at (http:\/\/127\.0\.0\.1:\d+)/)) as [RegExpMatchArray];
    const [worker] = readFileSync(`/proc/${child!.pid}/task/${child!.pid}/children`, 'utf8')
      .trim()
      .split(/\s+/);
    const env = Object.fromEntries(
      readFileSync(`/proc/${worker}/environ`, 'utf8')
        .split('\0')
        .filter(Boolean)
        .map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]),
    ) as Record<string, string>;
    expect(env.WECHAT_APPID).to.equal('');
    expect(env.WECHAT_SECRET).to.equal('');
    const file = env.WECHAT_APPS_FILE!;
    expect(statSync(file).mode & 0o777).to.equal(0o600);
    const { apps } = (await (await fetch(`${emulator}/__emulator/apps`)).json()) as {
      apps: { appid: string; kind: string; name: string }[];
    };
    const listed = (JSON.parse(readFileSync(file, 'utf8')) as { apps: { appid: string; name: string }[] })
      .apps;
    expect(listed.map(({ appid, name }) => ({ appid, name }))).to.deep.equal(
      apps.map(({ appid, name }) => ({ appid, name })),
    );

    // One person in the Service mini-program and in the mobile App: both sessions, whichever worker answers.
    const { openid } = (await (
      await fetch(`${emulator}/__emulator/users`, { method: 'POST', body: JSON.stringify({ unionid: true }) })
    ).json()) as { openid: string };
    let token = '';
    for (const app of [apps[1]!, apps.find((a) => a.kind === 'mobile')!]) {
      const { code } = (await (
        await fetch(`${emulator}/__emulator/login`, {
          method: 'POST',
          body: JSON.stringify({ openid, appid: app.appid }),
        })
      ).json()) as { code: string };
      const login = await fetch(`${base}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ code, appid: app.appid }),
      });
      expect(login.status, app.name).to.equal(200);
      token = ((await login.json()) as { access_token: string }).access_token;
    }
    for (let i = 0; i < 2; i += 1) {
      const listedSessions = await getOnce(`${base}/auth/sessions`, token);
      expect(listedSessions.status).to.equal(200);
      const { sessions } = JSON.parse(listedSessions.body) as { sessions: { app: { name: string } }[] };
      expect(sessions.map((session) => session.app.name)).to.deep.equal([
        'Mobile app',
        'Service mini-program',
      ]);
    }

    child!.kill('SIGTERM');
    const [status] = (await once(child!, 'exit')) as [number | null];
    expect(status).to.equal(0);
    expect(existsSync(file), 'the apps file after exit').to.equal(false);
    expect(existsSync(dirname(file)), 'its folder after exit').to.equal(false);
  });

  it('starts while Redis is not up yet: Bearer routes, store routes and /readyz 503, then ready and serving once it is', async () => {
    const redisPort = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'wxauth-keys-'));
    const jwks = await generatePrivateJwks();
    const file = join(dir, 'jwks.json');
    writeFileSync(file, JSON.stringify(jwks));
    const access = createAccessTokens({
      keys: await keySetFromJwks(jwks),
      clock: systemClock,
      issuer: 'wxauth',
      audience: 'wxauth',
      clientId: 'wx0123456789abcdef',
      ttlS: 900,
      clockToleranceS: 0,
    });
    const { token } = await access.issue('oRedisDownAtStart000000000001', 'family1');
    try {
      start({
        REDIS_URL: `redis://127.0.0.1:${redisPort}`,
        JWT_SIGNING_KEYS_FILE: file,
        JWT_ISSUER: 'wxauth',
        WECHAT_EMULATOR: '1',
        WORKERS: '2',
        PORT: '0',
        LOG_LEVEL: 'info',
      });
      const listening = await waitFor(/"msg":"wxauth listening on [^"]*?(\d+)"/, 2);
      const base = `http://127.0.0.1:${listening[0]![1]}`;
      for (let i = 0; i < 4; i += 1) {
        // Not from an empty memory of ended sessions: the token's may have ended before this started.
        expect((await getOnce(`${base}/auth/me`, token)).status, '/auth/me').to.equal(503);
        expect((await getOnce(`${base}/readyz`, token)).status, '/readyz').to.equal(503);
      }
      // A login names its app (the emulator serves several): only then does it reach the store.
      const [[, emulator]] = (await waitFor(/emulator at (http:\/\/127\.0\.0\.1:\d+)/)) as [RegExpMatchArray];
      const { apps } = (await (await fetch(`${emulator}/__emulator/apps`)).json()) as {
        apps: { appid: string }[];
      };
      const login = await fetch(`${base}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ code: 'any-code', appid: apps[0]!.appid }),
      });
      expect(login.status).to.equal(503);
      expect(child!.exitCode, 'the primary is still running').to.equal(null);

      const redis = await startRedisServer({ port: redisPort });
      try {
        // Both workers: every new connection goes to the next one.
        await until(
          '/readyz 200 twice in a row',
          10_000,
          async () =>
            (await getOnce(`${base}/readyz`, token)).status === 200 &&
            (await getOnce(`${base}/readyz`, token)).status === 200,
        );
        for (let i = 0; i < 2; i += 1)
          expect((await getOnce(`${base}/auth/me`, token)).status, '/auth/me once ready').to.equal(200);
      } finally {
        child!.kill('SIGTERM');
        await once(child!, 'exit');
        await redis.stop();
      }
      expect(output()).not.to.contain('worker died');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('starts another worker when one is killed in its first seconds, waiting longer while they keep dying young, and keeps serving', async () => {
    const redis = await testRedis();
    start({
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: 'workers-crash-test:',
      WECHAT_EMULATOR: '1',
      WORKERS: '2',
      PORT: '0',
      LOG_LEVEL: 'info',
    });
    const listening = await waitFor(/"msg":"wxauth listening on [^"]*?(\d+)"/, 2);
    const base = `http://127.0.0.1:${listening[0]![1]}`;
    const workers = () =>
      readFileSync(`/proc/${child!.pid}/task/${child!.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
    const first = workers();
    const [victim] = first;
    // Killed from outside at once, well within the 10 s in which the primary used to give up.
    process.kill(victim!, 'SIGKILL');
    await waitFor(/"msg":"worker died: starting another"/);
    await waitFor(/"msg":"wxauth listening on [^"]*?(\d+)"/, 3);
    expect(child!.exitCode, 'the primary is still running').to.equal(null);
    const replacement = workers().find((pid) => pid !== victim && !first.includes(pid));
    expect(workers()).to.have.length(2).and.not.include(victim);
    for (let i = 0; i < 4; i += 1) expect((await getOnce(`${base}/healthz`, '')).status).to.equal(200);
    // Its replacement dying young too is a crash loop: the next one waits.
    process.kill(replacement!, 'SIGKILL');
    await waitFor(/"restartInMs":1000,"msg":"worker died: starting another"/);
    await waitFor(/"msg":"wxauth listening on [^"]*?(\d+)"/, 4);
    expect(workers()).to.have.length(2);
    child!.kill('SIGTERM');
    const [status] = (await once(child!, 'exit')) as [number | null];
    expect(status).to.equal(0);
  });

  it('stops with exit 1 when every worker fails before it listens, each saying why', async () => {
    const redis = await testRedis();
    const taken = createServer().listen(0, '127.0.0.1');
    await once(taken, 'listening');
    try {
      start({
        REDIS_URL: redis.url,
        REDIS_KEY_PREFIX: 'workers-port-test:',
        WECHAT_EMULATOR: '1',
        WORKERS: '2',
        PORT: String((taken.address() as AddressInfo).port),
      });
      const [status] = (await once(child!, 'exit')) as [number | null];
      expect(status).to.equal(1);
      expect(output()).to.match(/wxauth: cannot start: PORT: 127\.0\.0\.1 port \d+ is in use/);
      expect(output()).to.contain('wxauth: cannot start: 2 workers in a row failed before they listened');
    } finally {
      taken.close();
    }
  });

  it('refuses to start several workers without Redis, which they would need to share sessions', async () => {
    start({ WORKERS: '2', PORT: '0' });
    const [status] = (await once(child!, 'exit')) as [number | null];
    expect(status).to.equal(1);
    expect(output()).to.contain('workers share sessions through Redis');
  });
});
