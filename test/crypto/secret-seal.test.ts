import { hkdfSync } from 'node:crypto';
import { expect } from 'chai';
import { derivedKey, openUnderSecret, sealUnderSecret } from '../../src/crypto/secret-seal.js';

describe('sealing under a secret the store never sees (login code results)', () => {
  it("derives node's HKDF-SHA256 key byte for byte, so that a seal of the previous version still opens", () => {
    for (const [secret, purpose] of [
      ['081Kq3ll2Xj2Ah4n0Mol2Lh7Ll1Kq3lD', 'login-result'],
      ['', 'login-result'],
      ['码'.repeat(40), 'another purpose'],
      ['x'.repeat(200), ''],
    ] as const) {
      const expected = Buffer.from(
        hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.alloc(0), purpose, 32),
      );
      expect(derivedKey(secret, purpose).equals(expected), `${secret.slice(0, 8)} / ${purpose}`).to.equal(
        true,
      );
    }
  });

  it('opens what it sealed only with the same secret and purpose', () => {
    const sealed = sealUnderSecret('{"openid":"o1"}', 'code-1', 'login-result');
    expect(openUnderSecret(sealed, 'code-1', 'login-result')).to.equal('{"openid":"o1"}');
    expect(openUnderSecret(sealed, 'code-2', 'login-result')).to.equal(null);
    expect(openUnderSecret(sealed, 'code-1', 'other')).to.equal(null);
    expect(openUnderSecret('garbage', 'code-1', 'login-result')).to.equal(null);
  });

  it('seals the same plaintext differently every time (a fresh IV each)', () => {
    const seals = new Set(Array.from({ length: 100 }, () => sealUnderSecret('same', 'code', 'p')));
    expect(seals.size).to.equal(100);
  });
});
