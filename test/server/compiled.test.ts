import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { build, ROOT, type ServiceProcess, startService } from '../../scripts/lib/spawn.js';
import { testRedis } from '../setup/hooks.js';

/** What `npm run build` makes, built afresh into .tmp/ (inside the repository, to find node_modules). */
describe('the compiled service (npm run build, then npm start: node dist/server.js)', function () {
  this.timeout(60_000);
  const dir = join(ROOT, '.tmp', `test-dist-${process.pid}`);
  let started: ServiceProcess | undefined;

  before(() => {
    build(dir);
  });
  afterEach(async () => {
    await started?.stop('SIGKILL');
    started = undefined;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('starts with node alone and no settings, serves the whole flow against the embedded emulator, and exits 0 on SIGTERM to its pid', async () => {
    started = startService({ entry: join(dir, 'server.js'), env: { PORT: '0' } });
    const [, service, emulator] = await started.match(
      /listening on (http:\/\/localhost:\d+), with the built-in WeChat emulator on (http:\/\/127\.0\.0\.1:\d+)/,
    );
    expect((await fetch(`${service}/healthz`)).status).to.equal(200);
    // Several mini-programs with nothing configured: a login names its app.
    const { apps } = (await (await fetch(`${emulator}/__emulator/apps`)).json()) as {
      apps: { appid: string }[];
    };
    const appid = apps[0]!.appid;
    const { code } = (await (
      await fetch(`${emulator}/__emulator/login`, { method: 'POST', body: JSON.stringify({ appid }) })
    ).json()) as { code: string };
    const login = await fetch(`${service}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code, appid }),
    });
    expect(login.status).to.equal(200);
    const { access_token } = (await login.json()) as { access_token: string };
    const me = await fetch(`${service}/auth/me`, { headers: { authorization: `Bearer ${access_token}` } });
    expect(me.status).to.equal(200);
    // The pid spawned is node's own: no npm or loader in between to swallow the signal.
    expect(await started.stop('SIGTERM')).to.equal(0);
    expect(started.output()).to.match(/"msg":"stopped"/);
  });

  it('runs node dist/workers.js with every worker the compiled server beside it', async () => {
    const redis = await testRedis();
    started = startService({
      entry: join(dir, 'workers.js'),
      env: {
        REDIS_URL: redis.url,
        REDIS_KEY_PREFIX: 'compiled-workers:',
        WECHAT_EMULATOR: '1',
        WORKERS: '2',
        PORT: '0',
      },
    });
    const listening = await started.matches(/"msg":"wxauth listening on [^"]*?(\d+)"/, 2);
    expect((await fetch(`http://127.0.0.1:${listening[0]![1]}/healthz`)).status).to.equal(200);
    expect(await started.stop('SIGTERM')).to.equal(0);
    expect(started.output()).not.to.contain('worker died');
  });

  it('npm start without a build says in one line how to get one, instead of a module-not-found stack', async () => {
    const bare = mkdtempSync(join(tmpdir(), 'wxauth-unbuilt-'));
    try {
      // The repository's package.json and start script beside no dist/, as after npm ci --omit=dev.
      mkdirSync(join(bare, 'bin'));
      copyFileSync(join(ROOT, 'package.json'), join(bare, 'package.json'));
      copyFileSync(join(ROOT, 'bin', 'wxauth.js'), join(bare, 'bin', 'wxauth.js'));
      for (const script of ['start', 'start:workers']) {
        const failed = await promisify(execFile)('npm', ['run', script, '--silent'], { cwd: bare }).then(
          () => undefined,
          (error: { code: number; stdout: string; stderr: string }) => error,
        );
        expect(failed?.code, 'exit code').to.equal(1);
        expect(failed?.stdout).to.equal('');
        const lines = failed!.stderr.trim().split('\n');
        expect(lines, failed!.stderr).to.have.length(1);
        expect(lines[0]).to.match(
          /^wxauth: cannot start: dist\/(server|workers)\.js is missing.*npm run build/,
        );
      }
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
  });

  it('skips the build instead of failing when npm installs without the dev dependencies', async () => {
    const bare = mkdtempSync(join(tmpdir(), 'wxauth-prepare-'));
    try {
      copyFileSync(join(ROOT, 'package.json'), join(bare, 'package.json'));
      // No node_modules here: TypeScript cannot be found, as after npm install --omit=dev.
      const { stdout } = await promisify(execFile)('npm', ['run', 'prepare'], { cwd: bare });
      expect(stdout).to.match(/typescript is not installed[^\n]*skipped/);
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
  });
});
