import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { startService } from '../../scripts/lib/spawn.js';
import type { WxApi } from '../../src/client/index.js';
import { createEmulator } from '../../src/emulator/index.js';
import { type LiveService, startLiveService } from './service.js';
import { createWxShim } from './wx-shim.js';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const tsc = join(root, 'node_modules/typescript/bin/tsc');

/** Import specifiers of a JS or TS file (static and dynamic). */
function importsOf(source: string): string[] {
  return [...source.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g)].map((m) => m[1]!);
}

describe('Mini-program client: the package entry point', function () {
  this.timeout(120_000);

  before(async () => {
    // What `npm install` runs (prepare): the client built into dist/client.
    await run(process.execPath, [tsc, '-p', 'src/client/tsconfig.json'], { cwd: root });
  });

  it('builds from sources that import nothing but their own files (no node:, no packages)', async () => {
    const dir = join(root, 'src/client');
    for (const file of (await readdir(dir)).filter((f) => f.endsWith('.ts'))) {
      const specifiers = importsOf(await readFile(join(dir, file), 'utf8'));
      for (const specifier of specifiers) expect(specifier, `${file}`).to.match(/^\.\/[a-z-]+\.js$/);
    }
  });

  it('ships ES2017 modules with type declarations in dist/client, importing only each other', async () => {
    const dir = join(root, 'dist/client');
    const files = await readdir(dir);
    expect(files).to.include.members(['index.js', 'index.d.ts', 'client.js', 'wx.d.ts']);
    for (const file of files.filter((f) => f.endsWith('.js'))) {
      const source = await readFile(join(dir, file), 'utf8');
      for (const specifier of importsOf(source)) expect(specifier, file).to.match(/^\.\/[a-z-]+\.js$/);
      expect(source, file).not.to.match(/\?\?|\?\.[a-zA-Z_(]/); // downlevelled for older mini-program runtimes
    }
    expect(await readFile(join(dir, 'wx.d.ts'), 'utf8')).to.contain(
      '/// <reference types="miniprogram-api-typings" preserve="true" />',
    );
  });

  describe('examples/miniprogram, made by npm run example:miniprogram into a fresh copy', () => {
    let copy: string;
    before(async () => {
      // Inside the repository, as a clone's example is: its tsconfig finds miniprogram-api-typings in
      // the root's node_modules. The copy leaves out what an earlier run generated.
      await mkdir(join(root, '.tmp'), { recursive: true });
      copy = await mkdtemp(join(root, '.tmp', 'example-miniprogram-'));
      const example = join(root, 'examples/miniprogram');
      await cp(example, copy, {
        recursive: true,
        filter: (source) => !relative(example, source).startsWith('lib'),
      });
      // The second half of the npm script (its first, build:client, is this file's before).
      await run(process.execPath, ['--import', 'tsx', 'scripts/example-miniprogram.ts', copy], { cwd: root });
    });
    after(async () => {
      if (copy) await rm(copy, { recursive: true, force: true });
    });

    it('resolves every import of its app, pages and modules to a file inside the project', async () => {
      const files = (await readdir(copy, { recursive: true })).filter(
        (f) => (f.endsWith('.ts') && !f.endsWith('.d.ts')) || f.endsWith('.js'),
      );
      expect(files).to.include.members(['app.ts', 'auth.ts', 'pages/index/index.ts', 'lib/wxauth/index.js']);
      const missing: string[] = [];
      for (const file of files) {
        for (const specifier of importsOf(await readFile(join(copy, file), 'utf8'))) {
          // The runtime's require: relative paths only (no npm package was built), .js added when absent;
          // a .ts is there as the .js DevTools compiles it to.
          const path = resolve(copy, dirname(file), specifier);
          const candidates = specifier.endsWith('.js') ? [path] : [`${path}.js`, `${path}.ts`];
          const inside = !relative(copy, path).startsWith('..');
          if (!specifier.startsWith('.') || !inside || !candidates.some((c) => existsSync(c))) {
            missing.push(`${file}: ${specifier}`);
          }
        }
      }
      expect(missing, 'imports that resolve to no file of the project').to.deep.equal([]);
      // Each page of app.json has its code, template and config.
      const app = JSON.parse(await readFile(join(copy, 'app.json'), 'utf8')) as { pages: string[] };
      for (const page of app.pages) {
        for (const ext of ['.ts', '.wxml', '.json'])
          expect(existsSync(join(copy, page + ext)), page + ext).to.equal(true);
      }
    });

    it('type-checks against miniprogram-api-typings and the copied client', async () => {
      const { stdout } = await run(
        process.execPath,
        [tsc, '-p', join(copy, 'tsconfig.json'), '--noEmit', '--listFiles'],
        { cwd: root },
      ).catch((error: { stdout?: string; stderr?: string }) => {
        throw new Error(`The example does not type-check:\n${error.stdout ?? ''}${error.stderr ?? ''}`);
      });
      const files = stdout.split('\n').map((line) => relative(copy, line));
      expect(files).to.include.members([
        'app.ts',
        'auth.ts',
        'emulated-wechat.ts',
        'pages/index/index.ts',
        'pages/qr-login/index.ts',
        'lib/wxauth/index.d.ts',
      ]);
      expect(stdout).to.contain('node_modules/miniprogram-api-typings/types/wx/lib.wx.api.d.ts');
    });

    it('logs in to a wxauth started with nothing configured: its emulator gives the code, never wx.login()', async () => {
      // `npm start` with no settings: the in-memory store and the built-in emulator, which serves the
      // code (POST /demo/wx/login) through wxauth itself.
      const service = startService({ env: { PORT: '0' } });
      const [, port] = await service.match(/wxauth listening on port (\d+)/);
      const baseUrl = `http://127.0.0.1:${port}`;
      await service.healthy(baseUrl);
      // The real wx of the phone: its own login would ask an emulator the service knows nothing of.
      const elsewhere = createEmulator();
      const shim = createWxShim({ emulator: elsewhere });
      const global = globalThis as { wx?: unknown };
      global.wx = shim;
      try {
        const { emulatedWechat } = (await import(join(copy, 'emulated-wechat.ts'))) as {
          emulatedWechat: (baseUrl: string) => WxApi;
        };
        const client = (await import(
          join(copy, 'lib/wxauth/index.js')
        )) as typeof import('../../src/client/index.js');
        const auth = client.createAuthClient({ baseUrl, wx: emulatedWechat(baseUrl) });
        const first = await auth.login();
        expect(first.isNewUser).to.equal(true);
        // The same emulated user on the next login, as one phone stays one WeChat user.
        const again = await auth.login();
        expect(again.openid).to.equal(first.openid);
        expect(again.isNewUser).to.equal(false);
        expect((await auth.request({ url: '/auth/me' })).statusCode).to.equal(200);
        expect(shim.logins()).to.equal(0);
        // The emulator serves several mini-programs: each login named its first, as getAccountInfoSync().
        const [, emulator] = await service.match(/WeChat emulator on (http:\/\/127\.0\.0\.1:\d+)/);
        const { apps } = (await (await fetch(`${emulator}/__emulator/apps`)).json()) as {
          apps: { appid: string }[];
        };
        const sent = shim.requests('POST /auth/login').map((call) => (call.data as { appid?: string }).appid);
        expect(sent).to.deep.equal([apps[0]!.appid, apps[0]!.appid]);
      } finally {
        delete global.wx;
        expect(await service.stop()).to.equal(0);
      }
    });
  });

  describe('imported by name, as a mini-program would', () => {
    let s: LiveService;
    before(async () => {
      s = await startLiveService();
    });
    after(async () => {
      await s.close();
    });

    it("resolves 'wxauth/client' to the built client, which logs in and refreshes against the service", async () => {
      const specifier = 'wxauth/client';
      const client = (await import(specifier)) as typeof import('../../src/client/index.js');
      expect(client.createAuthClient).to.be.a('function');
      expect(new client.DecryptFailedError('x')).to.be.instanceOf(client.AuthError);
      const wx = createWxShim({ emulator: s.h.emulator });
      const auth = client.createAuthClient({ baseUrl: s.baseUrl, wx, clock: s.h.clock });
      expect((await auth.request({ url: '/auth/me' })).statusCode).to.equal(200);
      s.h.clock.advance(900_000);
      expect((await auth.request({ url: '/auth/me' })).statusCode).to.equal(200);
      expect(wx.requests('POST /auth/refresh')).to.have.length(1);
      expect(wx.logins()).to.equal(1);
    });
  });
});
