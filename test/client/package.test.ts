import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';
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

  it('type-checks the example mini-program against miniprogram-api-typings and the shipped types', async () => {
    const { stdout } = await run(
      process.execPath,
      [tsc, '-p', 'examples/miniprogram/tsconfig.json', '--noEmit', '--listFiles'],
      { cwd: root },
    ).catch((error: { stdout?: string; stderr?: string }) => {
      throw new Error(`The example does not type-check:\n${error.stdout ?? ''}${error.stderr ?? ''}`);
    });
    const files = stdout.split('\n').map((line) => line.replace(`${root}/`, ''));
    expect(files).to.include.members([
      'examples/miniprogram/app.ts',
      'examples/miniprogram/auth.ts',
      'examples/miniprogram/pages/index/index.ts',
      'dist/client/index.d.ts',
      'node_modules/miniprogram-api-typings/types/wx/lib.wx.api.d.ts',
    ]);
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
