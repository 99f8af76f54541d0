import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { decodeProtectedHeader } from 'jose';
import { type Harness, startHarness } from '../helpers/harness.js';

const run = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;

/** npm run keys, as an operator runs it. */
async function keysScript(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'scripts/gen-keys.ts', ...args], {
    cwd: root,
  });
  return stdout;
}

const kids = (file: string) =>
  (JSON.parse(readFileSync(file, 'utf8')) as { keys: { kid: string }[] }).keys.map((k) => k.kid);

describe('key rotation in two steps, through a rolling restart', function () {
  this.timeout(60_000);
  const dir = mkdtempSync(join(tmpdir(), 'wxauth-rotation-'));
  const file = join(dir, 'keys.json');
  /** The key file after each step, as the instances restarted at that step read it. */
  const steps: string[] = [];
  const snapshot = (name: string) => {
    const copy = join(dir, `${name}.json`);
    copyFileSync(file, copy);
    steps.push(copy);
    return copy;
  };

  before(async () => {
    await keysScript(file);
    snapshot('0-initial');
    await keysScript(file, '--next');
    snapshot('1-next');
    await keysScript(file, '--promote');
    snapshot('2-promoted');
    const [, old] = kids(file);
    await keysScript(file, '--retire', old!);
    snapshot('3-retired');
  });

  const instance = (keysFile: string) =>
    startHarness({ store: 'memory', env: { JWT_SIGNING_KEYS_FILE: keysFile, JWT_ISSUER: 'wxauth' } });

  async function signedBy(h: Harness): Promise<{ token: string; kid: string }> {
    const { access_token: token } = await h.login();
    return { token, kid: decodeProtectedHeader(token).kid! };
  }

  const me = (h: Harness, token: string) => h.http.get('/auth/me').set('Authorization', `Bearer ${token}`);

  it('the script adds a next key that does not sign, promotes it, then retires the old one', () => {
    const [initial, next, promoted, retired] = steps.map(kids);
    expect(next).to.deep.equal([initial![0], next![1]]);
    expect(promoted).to.deep.equal([next![1], initial![0]]);
    expect(retired).to.deep.equal([next![1]]);
  });

  for (const [from, to, what] of [
    [0, 1, 'publishing the next key'],
    [1, 2, 'promoting it'],
    [2, 3, 'retiring the old key'],
  ] as const) {
    it(`lets no instance refuse another's token while ${what}: restarted and not yet restarted alike`, async () => {
      const restarted = await instance(steps[to]!);
      const notYet = await instance(steps[from]!);
      try {
        for (const [signer, verifier] of [
          [restarted, notYet],
          [notYet, restarted],
        ] as const) {
          const { token, kid } = await signedBy(signer);
          expect(signer.keys.signing.kid).to.equal(kid);
          const res = await me(verifier, token);
          expect(
            res.status,
            `kid ${kid} at an instance with ${[...verifier.keys.verifying.keys()]}`,
          ).to.equal(200);
        }
        // Published before it signs: the next key is in the JWKS of every instance once step 1 is out.
        if (to === 1) {
          const jwks = await restarted.http.get('/.well-known/jwks.json').expect(200);
          expect(jwks.body.keys.map((k: { kid: string }) => k.kid)).to.deep.equal(kids(steps[1]!));
          expect(restarted.keys.signing.kid).to.equal(notYet.keys.signing.kid);
        }
      } finally {
        await restarted.close();
        await notYet.close();
      }
    });
  }

  it('keeps --rotate from signing with a brand-new key at once: it adds a next key', async () => {
    const other = join(dir, 'rotate.json');
    copyFileSync(steps[0]!, other);
    const output = await keysScript(other, '--rotate');
    expect(output).to.contain('--promote');
    const rotated = await instance(other);
    const before = await instance(steps[0]!);
    try {
      expect(rotated.keys.signing.kid).to.equal(before.keys.signing.kid);
      expect(kids(other)).to.have.length(2);
      // What the one-step rotation did: an instance signing with a key the others do not know yet.
      const early = await instance(steps[2]!);
      try {
        const { token } = await signedBy(early);
        expect((await me(before, token)).status).to.equal(401);
      } finally {
        await early.close();
      }
    } finally {
      await rotated.close();
      await before.close();
    }
  });
});
