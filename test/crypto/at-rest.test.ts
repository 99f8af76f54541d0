import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { createAtRestCipher, parseAtRestKeys } from '../../src/crypto/index.js';

const key = (kid: string) => `${kid}:${randomBytes(32).toString('base64')}`;

describe('encryption at rest', () => {
  it('opens what it sealed, for the same context only', () => {
    const cipher = createAtRestCipher(parseAtRestKeys(key('k1')));
    const sealed = cipher.seal('tiihtNczf5v6AKRyjwEUhQ==', 'oUserA');
    expect(sealed)
      .to.match(/^v1\.k1\./)
      .and.not.to.contain('tiihtNczf5v6AKRyjwEUhQ==');
    expect(cipher.open(sealed, 'oUserA')).to.equal('tiihtNczf5v6AKRyjwEUhQ==');
    expect(cipher.open(sealed, 'oUserB')).to.equal(null);
  });

  it('decrypts with an older key after a new one is put first, and encrypts with the new one', () => {
    const old = key('old');
    const sealedBefore = createAtRestCipher(parseAtRestKeys(old)).seal('secret', 'o1');
    const rotated = createAtRestCipher(parseAtRestKeys(`${key('new')},${old}`));
    expect(rotated.open(sealedBefore, 'o1')).to.equal('secret');
    expect(rotated.seal('secret', 'o1')).to.match(/^v1\.new\./);
    expect(createAtRestCipher(parseAtRestKeys(key('other'))).open(sealedBefore, 'o1')).to.equal(null);
  });

  it('refuses tampered values', () => {
    const cipher = createAtRestCipher(parseAtRestKeys(key('k1')));
    const sealed = cipher.seal('secret', 'o1');
    // The second-to-last character changed to another: deciding by the last one left it as it was 1 in 64 runs.
    const flipped = `${sealed.slice(0, -2)}${sealed.at(-2) === 'A' ? 'B' : 'A'}${sealed.slice(-1)}`;
    for (const bad of [flipped, 'v1.k1.', 'v1.k1.AAAA', 'v2.k1.abc', 'plain'])
      expect(cipher.open(bad, 'o1')).to.equal(null);
  });

  it('seals a base64 session_key as its 16 bytes (44 bytes in all) and any other text as it is', () => {
    const cipher = createAtRestCipher(parseAtRestKeys(key('k1')));
    const sessionKey = randomBytes(16).toString('base64');
    const sealed = cipher.seal(sessionKey, 'o1');
    expect(Buffer.from(sealed.split('.')[2]!, 'base64url')).to.have.length(12 + 1 + 16 + 16);
    expect(cipher.open(sealed, 'o1')).to.equal(sessionKey);
    for (const text of ['', 'not base64!', 'QUJD', 'YWJj\n', 'ünïcode'])
      expect(cipher.open(cipher.seal(text, 'o1'), 'o1')).to.equal(text);
  });
});
