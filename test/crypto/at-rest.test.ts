import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { sealedFromBytes, sealedToBytes } from '../../src/crypto/at-rest.js';
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

  it('gives a sealed value as bytes (0, key id length, key id, payload) and turns them back into the same text', () => {
    const cipher = createAtRestCipher(parseAtRestKeys(key('20261123')));
    const sealed = cipher.seal(randomBytes(16).toString('base64'), 'o1');
    const bytes = sealedToBytes(sealed)!;
    const payload = Buffer.from(sealed.split('.')[2]!, 'base64url');
    expect(bytes).to.deep.equal(Buffer.concat([Buffer.of(0, 8), Buffer.from('20261123'), payload]));
    expect(bytes).to.have.length(55);
    expect(sealedFromBytes(bytes)).to.equal(sealed);
  });

  it('gives no bytes for anything that is not a well-formed sealed value, so none reads back changed', () => {
    const cipher = createAtRestCipher(parseAtRestKeys(key('k1')));
    // 7 bytes of plaintext: a 35-byte payload, whose last character carries 2 unused bits.
    const sealed = cipher.seal('secret', 'o1');
    const last = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const unusedBitsSet = `${sealed.slice(0, -1)}${last[last.indexOf(sealed.at(-1)!) | 3]}`;
    expect(Buffer.from(unusedBitsSet.split('.')[2]!, 'base64url').toString('base64url')).not.to.equal(
      unusedBitsSet.split('.')[2],
    );
    const payload = sealed.split('.')[2]!;
    for (const bad of [
      unusedBitsSet,
      `${sealed}=`,
      'v1.k1.QUJD',
      'v1.k1.',
      `v2.k1.${payload}`,
      `v1.${'k'.repeat(33)}.${payload}`,
      `v1.k 1.${payload}`,
      'plain',
      '',
    ])
      expect(sealedToBytes(bad), bad).to.equal(null);
  });
});
