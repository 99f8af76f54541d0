import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { type Issuer, startIssuer } from './issuer.js';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

describe('@wxauth/verifier installed into another project from its packed tarball', function () {
  this.timeout(180_000);
  const dir = mkdtempSync(join(tmpdir(), 'wxauth-verifier-consumer-'));
  let tarball: string;
  let issuer: Issuer;

  before(async () => {
    // npm pack runs prepack: tsc builds dist/ from the sources.
    const { stdout } = await run(npm, ['pack', '--json', '--pack-destination', dir], {
      cwd: join(root, 'packages/verifier'),
    });
    const [packed] = JSON.parse(stdout) as [{ filename: string; files: { path: string }[] }];
    tarball = join(dir, packed.filename);
    writeFileSync(join(dir, 'files.json'), JSON.stringify(packed.files.map((f) => f.path)));
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
    );
    await run(npm, ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: dir });
    issuer = await startIssuer();
  });

  after(async () => {
    await issuer?.close();
  });

  it('ships built ES modules with declarations, and no sources or tests', () => {
    const files = JSON.parse(readFileSync(join(dir, 'files.json'), 'utf8')) as string[];
    expect(files).to.include.members(['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts']);
    for (const file of files) expect(file).to.match(/^(package\.json|README\.md|dist\/[a-z-]+\.(js|d\.ts))$/);
  });

  it('brings nothing but jose along', () => {
    const installed = readdirSync(join(dir, 'node_modules')).filter((name) => !name.startsWith('.'));
    expect(installed.sort()).to.deep.equal(['@wxauth', 'jose']);
    const manifest = JSON.parse(
      readFileSync(join(dir, 'node_modules/@wxauth/verifier/package.json'), 'utf8'),
    );
    expect(Object.keys(manifest.dependencies)).to.deep.equal(['jose']);
  });

  it("imports by name and verifies a real wxauth's token there, refusing a tampered one", async () => {
    const login = await issuer.h.login();
    writeFileSync(
      join(dir, 'check.mjs'),
      `import { createVerifier, koaBearer, expressBearer, fastifyBearer } from '@wxauth/verifier';
const verifier = createVerifier({ issuer: process.env.ISSUER, audience: 'wxauth' });
const { openid, sid } = await verifier.verify(process.env.TOKEN);
const refused = await verifier.verify(process.env.TOKEN.slice(0, -4) + 'AAAA').then(() => null, (e) => e.code);
console.log(JSON.stringify({ openid, sid, refused, middleware: [koaBearer, expressBearer, fastifyBearer].map((f) => typeof f) }));
`,
    );
    const { stdout } = await run(process.execPath, ['check.mjs'], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', ISSUER: issuer.url, TOKEN: login.access_token },
    });
    const result = JSON.parse(stdout);
    expect(result.openid).to.equal(login.openid);
    expect(result.sid).to.be.a('string');
    expect(result.refused).to.equal('invalid_token');
    expect(result.middleware).to.deep.equal(['function', 'function', 'function']);
  });

  it("type-checks a consumer's TypeScript against the shipped declarations alone", async () => {
    writeFileSync(
      join(dir, 'consumer.ts'),
      `import { createVerifier, InvalidTokenError, koaBearer, type VerifiedToken } from '@wxauth/verifier';
const verifier = createVerifier({ issuer: 'https://auth.example.com', audience: 'wxauth', cooldownMs: 10_000 });
export async function who(token: string): Promise<string> {
  const verified: VerifiedToken = await verifier.verify(token);
  return verified.openid + (verified.sid ?? '');
}
export const middleware = koaBearer(verifier, { realm: 'orders' });
export const isRefusal = (error: unknown): boolean => error instanceof InvalidTokenError && error.code === 'invalid_token';
`,
    );
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          lib: ['ES2023', 'DOM'],
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          types: [],
          strict: true,
          noEmit: true,
        },
        files: ['consumer.ts'],
      }),
    );
    await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', dir]).catch(
      (error: { stdout?: string }) => {
        throw new Error(`the consumer does not type-check:\n${error.stdout ?? ''}`);
      },
    );
  });
});
