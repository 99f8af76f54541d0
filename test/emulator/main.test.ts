import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { type ServiceProcess, startService } from '../../scripts/lib/spawn.js';
import { startHarness } from '../helpers/harness.js';

const ENTRY = 'src/emulator/main.ts';

/** The three settings the emulator prints, as a service's environment takes them. */
async function printedSettings(started: ServiceProcess): Promise<Record<string, string>> {
  const lines = await started.matches(/^(WECHAT_API_BASE|WECHAT_APPID|WECHAT_SECRET)=(\S+)$/m, 3);
  return Object.fromEntries(lines.map((line) => [line[1]!, line[2]!]));
}

describe('npm run emulator: the WeChat emulator as a process of its own', function () {
  this.timeout(30_000);

  it('prints the settings that point wxauth at it, and wxauth configured with them logs a user in', async () => {
    const emulator = startService({ entry: ENTRY, env: { EMULATOR_PORT: '0' } });
    try {
      const settings = await printedSettings(emulator);
      expect(settings.WECHAT_API_BASE).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
      // wxauth with real Redis and those credentials: WeChat is the emulator's process, over HTTP.
      const h = await startHarness({ env: settings });
      try {
        expect(h.config.wechat).to.include({ mode: 'remote', apiBase: settings.WECHAT_API_BASE });
        // The printed curl line: a code as wx.login() gives one.
        const curl = await emulator.match(/^curl -s -X POST (\S+)$/m);
        const issued = (await (await fetch(curl[1]!, { method: 'POST' })).json()) as {
          code: string;
          openid: string;
        };
        const login = await h.http.post('/auth/login').send({ code: issued.code }).expect(200);
        expect(login.body.openid).to.equal(issued.openid);
        expect(login.body.is_new_user).to.equal(true);
        // And it was the emulator's process that answered: it counted the exchange.
        const calls = (await (await fetch(`${settings.WECHAT_API_BASE}/__emulator/calls`)).json()) as {
          jscode2session: number;
        };
        expect(calls.jscode2session).to.equal(1);
      } finally {
        await h.close();
      }
      expect(await emulator.stop('SIGTERM')).to.equal(0);
    } finally {
      await emulator.stop('SIGKILL');
    }
  });

  it('keeps the AppID and AppSecret it is given, so that a restart needs no new settings', async () => {
    const env = { EMULATOR_APPID: 'wx0123456789abcdef', EMULATOR_SECRET: '0123456789abcdef0123456789abcdef' };
    const emulator = startService({ entry: ENTRY, env });
    try {
      const settings = await printedSettings(emulator);
      expect(settings.WECHAT_APPID).to.equal(env.EMULATOR_APPID);
      expect(settings.WECHAT_SECRET).to.equal(env.EMULATOR_SECRET);
      expect(await emulator.stop('SIGINT')).to.equal(0);
    } finally {
      await emulator.stop('SIGKILL');
    }
  });

  it("serves the apps of wxauth's apps file, printing the secrets it made up as wxauth's settings", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'emulator-apps-'));
    const file = join(dir, 'apps.json');
    writeFileSync(
      file,
      JSON.stringify({
        apps: [
          { appid: 'wx1234567890abcdef', kind: 'miniprogram', name: 'Shop', claims: ['unionid'] },
          { appid: 'wx3234567890abcdef', kind: 'mobile', name: 'Shop app', secret: 'inthefile1' },
          {
            appid: 'wx5234567890abcdef',
            kind: 'website',
            redirect_uris: ['http://localhost:3000/auth/callback'],
          },
        ],
      }),
    );
    const env = { EMULATOR_APPS_FILE: file, WECHAT_SECRET_WX5234567890ABCDEF: 'fromtheenv1' };
    const emulator = startService({ entry: ENTRY, env });
    try {
      const [base] = await emulator.matches(/^WECHAT_API_BASE=(\S+)$/m, 1);
      const url = base![1]!;
      // Only the secret it made up: the file's and the environment's the service has already.
      const secrets = await emulator.matches(/^WECHAT_SECRET_(WX\w+)=(\S+)$/m, 1);
      expect(secrets.map((line) => line[1])).to.deep.equal(['WX1234567890ABCDEF']);
      expect(emulator.output()).not.to.include('inthefile1').and.not.to.include('fromtheenv1');
      const listed = (await (await fetch(`${url}/__emulator/apps`)).json()) as { apps: unknown[] };
      expect(listed.apps).to.deep.equal([
        { appid: 'wx1234567890abcdef', kind: 'miniprogram', name: 'Shop' },
        { appid: 'wx3234567890abcdef', kind: 'mobile', name: 'Shop app' },
        { appid: 'wx5234567890abcdef', kind: 'website', name: 'wx5234567890abcdef' },
      ]);
      // The secrets it serves are those: the environment's opens the website app.
      const query = new URLSearchParams({
        appid: 'wx5234567890abcdef',
        secret: 'fromtheenv1',
        code: 'x',
        grant_type: 'authorization_code',
      });
      const exchanged = (await (await fetch(`${url}/sns/oauth2/access_token?${query}`)).json()) as {
        errcode: number;
      };
      expect(exchanged.errcode).to.equal(40029);
      expect(await emulator.stop('SIGTERM')).to.equal(0);
    } finally {
      await emulator.stop('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a port that is not one with a line naming EMULATOR_PORT, and no stack', async () => {
    const emulator = startService({ entry: ENTRY, env: { EMULATOR_PORT: '3000x' } });
    // 'close': exited, and its output read to the end.
    const [code] = await once(emulator.child, 'close');
    expect(code).to.equal(1);
    expect(emulator.output()).to.equal(
      'emulator: EMULATOR_PORT must be a port number (0 to 65535, 0: any free one), not "3000x"\n',
    );
  });
});
