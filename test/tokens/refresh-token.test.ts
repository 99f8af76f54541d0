import { expect } from 'chai';
import { hashRefreshToken, mintRefreshToken, parseRefreshToken } from '../../src/tokens/index.js';
import { newSuccessorSeed, successorOf } from '../../src/tokens/refresh-token.js';
import { PREVIOUS_VERSION } from './previous-version.js';

describe('refresh token format', () => {
  it('is base64url with at least 256 random bits, and round-trips its owner and family', () => {
    const minted = mintRefreshToken('oAbCdEfGhIjKlMnOpQrStUvWxYz0');
    expect(minted.token).to.match(/^[A-Za-z0-9_-]+$/);
    expect(Buffer.from(minted.token, 'base64url').length).to.be.at.least(1 + 12 + 32 + 28);
    expect(parseRefreshToken(minted.token)).to.deep.equal({
      openid: 'oAbCdEfGhIjKlMnOpQrStUvWxYz0',
      familyId: minted.familyId,
      hash: minted.hash,
    });
    expect(minted.hash).to.deep.equal(hashRefreshToken(minted.token)).and.to.have.length(32);
  });

  it("hashes a token to the 32 bytes of its text's SHA-256, the digest families already hold", () => {
    expect(hashRefreshToken(PREVIOUS_VERSION.token)).to.deep.equal(
      Buffer.from(PREVIOUS_VERSION.tokenHash, 'base64url'),
    );
  });

  it('never mints the same token twice', () => {
    const tokens = new Set(Array.from({ length: 1000 }, () => mintRefreshToken('oUser').token));
    expect(tokens.size).to.equal(1000);
  });

  it('rejects strings that cannot be one of its tokens', () => {
    const { token } = mintRefreshToken('oUser');
    for (const bad of [
      '',
      'abc',
      `${token}=`,
      `${token}!`,
      'A'.repeat(2000),
      Buffer.alloc(60).toString('base64url'),
    ]) {
      expect(parseRefreshToken(bad), bad.slice(0, 20)).to.equal(null);
    }
    const withBrace = Buffer.concat([Buffer.of(1), Buffer.alloc(44), Buffer.from('o}{x')]).toString(
      'base64url',
    );
    expect(parseRefreshToken(withBrace)).to.equal(null);
  });

  it('rebuilds the same successor only from its predecessor and seed', () => {
    const a = mintRefreshToken('oUser');
    const b = mintRefreshToken('oUser', a.familyId);
    const seed = newSuccessorSeed();
    expect(seed).to.be.instanceOf(Buffer).and.to.have.length(32);
    const next = successorOf({ ...parseRefreshToken(a.token)!, token: a.token }, seed);
    expect(parseRefreshToken(next.token)).to.deep.equal({
      openid: 'oUser',
      familyId: a.familyId,
      hash: next.hash,
    });
    expect(successorOf({ ...parseRefreshToken(a.token)!, token: a.token }, seed).token).to.equal(next.token);
    expect(successorOf({ ...parseRefreshToken(b.token)!, token: b.token }, seed).token).not.to.equal(
      next.token,
    );
    expect(
      successorOf({ ...parseRefreshToken(a.token)!, token: a.token }, newSuccessorSeed()).token,
    ).not.to.equal(next.token);
  });

  it('derives from a seed the successor the previous version derived from its text', () => {
    const { token, seed, successor, successorHash } = PREVIOUS_VERSION;
    const next = successorOf({ ...parseRefreshToken(token)!, token }, seed);
    expect(next.token).to.equal(successor);
    expect(next.hash).to.deep.equal(Buffer.from(successorHash, 'base64url'));
  });
});
