import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { generatePrivateJwks, KeySetError, keySetFromJwks, loadKeySet } from '../../src/tokens/index.js';

describe('signing keys', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wxauth-keys-'));

  it('loads a private JWKS file and publishes only public members', async () => {
    const file = join(dir, 'keys.json');
    writeFileSync(file, JSON.stringify(await generatePrivateJwks()));
    const keys = await loadKeySet(file);
    expect(keys.signing.alg).to.equal('EdDSA');
    expect(keys.ephemeral).to.equal(false);
    for (const jwk of keys.publicJwks.keys) {
      expect(jwk).not.to.have.any.keys('d', 'p', 'q', 'dp', 'dq', 'qi', 'k');
      expect(jwk).to.include({ use: 'sig', alg: 'EdDSA', kty: 'OKP', crv: 'Ed25519' });
    }
  });

  it('supports ES256 keys too', async () => {
    const keys = await keySetFromJwks(await generatePrivateJwks('ES256'));
    expect(keys.algorithms).to.deep.equal(['ES256']);
  });

  it('refuses public-only keys, symmetric keys, empty sets, missing files and non-JSON', async () => {
    const { keys } = await generatePrivateJwks();
    const { d: _d, ...publicOnly } = keys[0]!;
    const cases: unknown[] = [
      { keys: [publicOnly] },
      { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] },
      { keys: [] },
      {},
    ];
    for (const jwks of cases) {
      let error: unknown;
      await keySetFromJwks(jwks).catch((e: unknown) => {
        error = e;
      });
      expect(error).to.be.instanceOf(KeySetError);
    }
    const garbage = join(dir, 'garbage.json');
    writeFileSync(garbage, 'not json');
    for (const file of [join(dir, 'missing.json'), garbage]) {
      let error: unknown;
      await loadKeySet(file).catch((e: unknown) => {
        error = e;
      });
      expect(error).to.be.instanceOf(KeySetError);
    }
  });
});
