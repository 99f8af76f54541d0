import { createPublicKey } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import {
  addNextKey,
  generateEphemeralKeySet,
  generatePrivateJwks,
  KeySetError,
  keySetFromJwks,
  loadKeySet,
  promoteNextKey,
  retireKey,
  type SigningAlgorithm,
} from '../../src/tokens/index.js';

describe('signing keys', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wxauth-keys-'));

  it('loads a private JWKS file and publishes only public members', async () => {
    const file = join(dir, 'keys.json');
    writeFileSync(file, JSON.stringify(await generatePrivateJwks()));
    const keys = await loadKeySet(file);
    expect(keys.signing.alg).to.equal('ES256');
    expect(keys.ephemeral).to.equal(false);
    for (const jwk of keys.publicJwks.keys) {
      expect(jwk).not.to.have.any.keys('d', 'p', 'q', 'dp', 'dq', 'qi', 'k');
      expect(jwk).to.include({ use: 'sig', alg: 'ES256', kty: 'EC', crv: 'P-256' });
    }
  });

  it('makes ES256 keys by default, for the key script and the ephemeral key', async () => {
    expect((await generatePrivateJwks()).keys[0]).to.include({ alg: 'ES256', kty: 'EC', crv: 'P-256' });
    const ephemeral = await generateEphemeralKeySet();
    expect(ephemeral.signing.alg).to.equal('ES256');
    expect(ephemeral.algorithms).to.deep.equal(['ES256']);
  });

  it('loads EdDSA, RS256 and PS256 keys, and a set mixing them, each public JWK with kid, alg and use', async () => {
    const algs: SigningAlgorithm[] = ['EdDSA', 'RS256', 'PS256', 'ES256'];
    const sets = await Promise.all(algs.map((alg) => generatePrivateJwks(alg)));
    const mixed = await keySetFromJwks({ keys: sets.flatMap((s) => s.keys) });
    expect(mixed.signing.alg).to.equal('EdDSA');
    expect(mixed.algorithms).to.deep.equal(algs);
    for (const [index, jwk] of mixed.publicJwks.keys.entries()) {
      expect(jwk).to.include({ alg: algs[index], use: 'sig', kid: sets[index]!.keys[0]!.kid });
      expect(jwk).not.to.have.any.keys('d', 'p', 'q', 'dp', 'dq', 'qi', 'next');
      expect(createPublicKey({ key: jwk as never, format: 'jwk' }).type).to.equal('public');
    }
  });

  it('publishes a key marked next and verifies with it, but signs with the first key not marked next', async () => {
    const current = await generatePrivateJwks('ES256');
    const withNext = await addNextKey(current, 'RS256');
    expect(withNext.keys).to.have.length(2);
    // Appended, so that a loader that knows no "next" still signs with the current key.
    expect(withNext.keys[0]).to.deep.equal(current.keys[0]);
    expect(withNext.keys[1]).to.include({ next: true, alg: 'RS256' });
    const keys = await keySetFromJwks(withNext);
    expect(keys.signing.kid).to.equal(current.keys[0]!.kid);
    expect(keys.next).to.deep.equal([withNext.keys[1]!.kid]);
    expect(keys.verifying.has(withNext.keys[1]!.kid!)).to.equal(true);
    expect(keys.algorithms).to.deep.equal(['ES256', 'RS256']);
    expect(keys.publicJwks.keys.map((k) => k.kid)).to.deep.equal(withNext.keys.map((k) => k.kid));

    // Marked next even when it comes first: order alone never makes a next key sign.
    const first = await keySetFromJwks({ keys: [withNext.keys[1]!, current.keys[0]!] });
    expect(first.signing.kid).to.equal(current.keys[0]!.kid);
  });

  it('promotes the next key to signing and keeps the previous signer for verification, then retires it', async () => {
    const current = await generatePrivateJwks();
    const withNext = await addNextKey(current);
    const nextKid = withNext.keys[1]!.kid!;
    const promoted = promoteNextKey(withNext);
    expect(promoted.keys.map((k) => k.kid)).to.deep.equal([nextKid, current.keys[0]!.kid]);
    expect(promoted.keys[0]).not.to.have.property('next');
    const keys = await keySetFromJwks(promoted);
    expect(keys.signing.kid).to.equal(nextKid);
    expect(keys.next).to.deep.equal([]);
    expect(keys.verifying.has(current.keys[0]!.kid!)).to.equal(true);

    const retired = retireKey(promoted, current.keys[0]!.kid!);
    expect(retired.keys.map((k) => k.kid)).to.deep.equal([nextKid]);
  });

  it('refuses a second next key, a promotion without one, retiring the signing key, and a set with no key to sign', async () => {
    const withNext = await addNextKey(await generatePrivateJwks());
    const errors: unknown[] = [];
    await addNextKey(withNext).catch((e: unknown) => errors.push(e));
    for (const attempt of [
      () => promoteNextKey(promoteNextKey(withNext)),
      () => retireKey(withNext, withNext.keys[0]!.kid!),
      () => retireKey(withNext, 'no-such-kid'),
    ]) {
      try {
        attempt();
      } catch (error) {
        errors.push(error);
      }
    }
    await keySetFromJwks({ keys: [withNext.keys[1]!] }).catch((e: unknown) => errors.push(e));
    await keySetFromJwks({ keys: [{ ...withNext.keys[1]!, next: 'yes' }, withNext.keys[0]!] }).catch(
      (e: unknown) => errors.push(e),
    );
    expect(errors).to.have.length(6);
    for (const error of errors) expect(error).to.be.instanceOf(KeySetError);
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
