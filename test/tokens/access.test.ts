import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { expect } from 'chai';
import { base64url, createLocalJWKSet, generateKeyPair, importJWK, jwtVerify, SignJWT } from 'jose';
import { InvalidToken } from '../../src/errors/index.js';
import { ManualClock } from '../../src/lib/index.js';
import {
  type AccessTokens,
  createAccessTokens,
  generateEphemeralKeySet,
  generatePrivateJwks,
  type KeySet,
  keySetFromJwks,
  SUPPORTED_ALGORITHMS,
} from '../../src/tokens/index.js';

const T0 = Date.UTC(2026, 0, 1);

async function refused(tokens: AccessTokens, token: string): Promise<InvalidToken> {
  try {
    await tokens.verify(token);
  } catch (error) {
    expect(error).to.be.instanceOf(InvalidToken);
    return error as InvalidToken;
  }
  throw new Error('the token was accepted');
}

describe('access tokens', () => {
  let keys: KeySet;
  let clock: ManualClock;
  let tokens: AccessTokens;
  const options = {
    issuer: 'wxauth',
    audience: 'wxauth',
    clientId: 'wx0123456789abcdef',
    ttlS: 900,
    clockToleranceS: 0,
  };

  beforeEach(async () => {
    keys = await generateEphemeralKeySet();
    clock = new ManualClock(T0);
    tokens = createAccessTokens({ keys, clock, ...options });
  });

  function forge(
    header: Record<string, unknown>,
    claims: Record<string, unknown>,
    key: Parameters<SignJWT['sign']>[0] = keys.signing.key,
  ) {
    const iat = Math.floor(clock.now() / 1000);
    return new SignJWT({
      iss: 'wxauth',
      aud: 'wxauth',
      sub: 'oUser',
      iat,
      exp: iat + 60,
      jti: 'j1',
      ...claims,
    })
      .setProtectedHeader({ alg: keys.signing.alg, typ: 'at+jwt', kid: keys.signing.kid, ...header } as never)
      .sign(key);
  }

  it('carries typ at+jwt, a kid and only iss, aud, sub, client_id, iat, exp, jti and sid', async () => {
    const { token, exp, expiresIn } = await tokens.issue('oUser', 'family1');
    const [header, payload] = token
      .split('.')
      .slice(0, 2)
      .map((part) => JSON.parse(new TextDecoder().decode(base64url.decode(part))));
    expect(header).to.deep.equal({ alg: 'ES256', typ: 'at+jwt', kid: keys.signing.kid });
    expect(Object.keys(payload).sort()).to.deep.equal([
      'aud',
      'client_id',
      'exp',
      'iat',
      'iss',
      'jti',
      'sid',
      'sub',
    ]);
    expect(payload).to.include({
      sub: 'oUser',
      client_id: 'wx0123456789abcdef',
      sid: 'family1',
      iss: 'wxauth',
      aud: 'wxauth',
      iat: T0 / 1000,
      exp: T0 / 1000 + 900,
    });
    expect(exp).to.equal(T0 / 1000 + 900);
    expect(expiresIn).to.equal(900);
  });

  it('verifies with nothing but the published JWKS and node:crypto', async () => {
    const { token } = await tokens.issue('oUser', 'family1');
    const [h, p, s] = token.split('.') as [string, string, string];
    const jwk = keys.publicJwks.keys.find((k) => k.kid === keys.signing.kid)!;
    expect(jwk).not.to.have.property('d');
    const publicKey = createPublicKey({ key: jwk as never, format: 'jwk' });
    const signed = Buffer.from(`${h}.${p}`);
    const signature = Buffer.from(s, 'base64url');
    expect(cryptoVerify('sha256', signed, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)).to.equal(
      true,
    );
  });

  for (const alg of SUPPORTED_ALGORITHMS) {
    it(`signs ${alg} tokens that jose verifies from the published JWKS alone, with the header and claims it reads`, async () => {
      const set = await generateEphemeralKeySet(alg);
      const issuer = createAccessTokens({ keys: set, clock, ...options });
      const { token } = await issuer.issue('oUser', 'family1');
      const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(set.publicJwks), {
        issuer: 'wxauth',
        audience: 'wxauth',
        typ: 'at+jwt',
        currentDate: new Date(clock.now()),
      });
      expect(protectedHeader).to.deep.equal({ alg, typ: 'at+jwt', kid: set.signing.kid });
      expect(payload).to.include({ sub: 'oUser', sid: 'family1', iat: T0 / 1000, exp: T0 / 1000 + 900 });
      expect(payload.jti).to.be.a('string').with.length(22);
      // And by its own verification, which goes through jose too.
      expect((await issuer.verify(token)).sub).to.equal('oUser');
    });
  }

  it('answers the sid it was issued with, and accepts a token without one (issued before sid existed)', async () => {
    const { token } = await tokens.issue('oUser', 'family1');
    expect(await tokens.verify(token)).to.include({ sub: 'oUser', sid: 'family1' });
    const older = await tokens.verify(await forge({}, {}));
    expect(older.sub).to.equal('oUser');
    expect(older.sid).to.equal(undefined);
  });

  it('refuses a token whose sid is not a string', async () => {
    expect((await refused(tokens, await forge({}, { sid: 42 }))).message).to.contain('sid');
  });

  it('answers the client_id it was issued with, and accepts a token without one until it expires (issued before client_id existed)', async () => {
    const { token } = await tokens.issue('oUser', 'family1');
    expect(await tokens.verify(token)).to.include({ sub: 'oUser', clientId: 'wx0123456789abcdef' });
    const older = await forge({}, {});
    const verified = await tokens.verify(older);
    expect(verified.sub).to.equal('oUser');
    expect(verified.clientId).to.equal(undefined);
    clock.advance(60_000);
    expect((await refused(tokens, older)).message).to.contain('expired');
  });

  it('refuses a token whose client_id is not a string', async () => {
    expect((await refused(tokens, await forge({}, { client_id: 7 }))).message).to.contain('client_id');
  });

  it("refuses a token whose alg is another key's of the same set", async () => {
    const es = await generatePrivateJwks('ES256');
    const rs = await generatePrivateJwks('RS256');
    const mixed = await keySetFromJwks({ keys: [...es.keys, ...rs.keys] });
    const verifier = createAccessTokens({ keys: mixed, clock, ...options });
    const rsKey = await importJWK(rs.keys[0]!, 'RS256');
    const iat = Math.floor(clock.now() / 1000);
    const claims = { iss: 'wxauth', aud: 'wxauth', sub: 'oUser', iat, exp: iat + 60, jti: 'j1' };
    const asEs = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: es.keys[0]!.kid! })
      .sign(rsKey);
    expect((await refused(verifier, asEs)).message).to.contain('algorithm');
    const honest = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: rs.keys[0]!.kid! })
      .sign(rsKey);
    expect((await verifier.verify(honest)).sub).to.equal('oUser');
  });

  it('accepts its own token until the second before exp and refuses it from exp on', async () => {
    const { token, exp } = await tokens.issue('oUser', 'family1');
    clock.set(exp * 1000 - 1);
    expect((await tokens.verify(token)).sub).to.equal('oUser');
    clock.set(exp * 1000);
    expect((await refused(tokens, token)).message).to.contain('expired');
  });

  it('refuses a token signed by another key with the same kid', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const error = await refused(tokens, await forge({}, {}, privateKey));
    expect(error.message).to.contain('signature');
  });

  it('refuses a token whose kid is unknown', async () => {
    expect((await refused(tokens, await forge({ kid: '../../etc/passwd' }, {}))).message).to.contain(
      'unknown kid',
    );
  });

  it('refuses a token that names its own key by jwk, jku or x5u', async () => {
    for (const header of [
      { jku: 'https://evil.example/jwks' },
      { x5u: 'https://evil.example/cert' },
      { jwk: keys.publicJwks.keys[0] },
    ]) {
      expect((await refused(tokens, await forge(header, {}))).message).to.contain('never trusts');
    }
  });

  it('refuses a token of another issuer, audience or typ', async () => {
    expect((await refused(tokens, await forge({}, { iss: 'other' }))).message).to.contain('"iss"');
    expect((await refused(tokens, await forge({}, { aud: 'other' }))).message).to.contain('"aud"');
    expect((await refused(tokens, await forge({ typ: 'JWT' }, {}))).message).to.contain('"typ"');
  });

  it('refuses a token without exp, iat, sub or jti', async () => {
    for (const claim of ['exp', 'iat', 'sub', 'jti']) {
      await refused(tokens, await forge({}, { [claim]: undefined }));
    }
  });

  it('refuses alg none and an HMAC token made with the public key as secret', async () => {
    const body = base64url.encode(
      JSON.stringify({ iss: 'wxauth', aud: 'wxauth', sub: 'x', iat: 1, exp: 9e9, jti: 'j' }),
    );
    const none = `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid: keys.signing.kid }))}.${body}.`;
    await refused(tokens, none);
    const hmac = await new SignJWT({ sub: 'x', iss: 'wxauth', aud: 'wxauth', jti: 'j' })
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: keys.signing.kid })
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(JSON.stringify(keys.publicJwks.keys[0])));
    await refused(tokens, hmac);
  });

  it('refuses garbage, truncated and oversized tokens', async () => {
    const { token } = await tokens.issue('oUser', 'family1');
    for (const bad of ['x', 'a.b.c', token.slice(0, -5), `${token}x`, 'e'.repeat(5000), '..']) {
      await refused(tokens, bad);
    }
  });

  it('signs with the first key of a set and still accepts tokens of the others', async () => {
    const olderJwks = await generatePrivateJwks();
    const older = await keySetFromJwks(olderJwks);
    const { token } = await createAccessTokens({ keys: older, clock, ...options }).issue('oOld', 'family1');
    const fresh = await generatePrivateJwks();
    const rotated = await keySetFromJwks({ keys: [...fresh.keys, ...olderJwks.keys] });
    expect(rotated.signing.kid).to.equal(fresh.keys[0]!.kid);
    expect(rotated.publicJwks.keys).to.have.length(2);
    const verifier = createAccessTokens({ keys: rotated, clock, ...options });
    expect((await verifier.verify(token)).sub).to.equal('oOld');
    await refused(verifier, (await tokens.issue('oOther', 'family1')).token);
  });
});

describe('access tokens: the cache of verified tokens', () => {
  const options = {
    issuer: 'wxauth',
    audience: 'wxauth',
    clientId: 'wx0123456789abcdef',
    ttlS: 900,
    clockToleranceS: 0,
  };
  let keys: KeySet;
  let clock: ManualClock;
  /** How often verification looked a key up: a token served from the cache looks up none. */
  let lookups: number;

  beforeEach(async () => {
    const real = await generateEphemeralKeySet();
    lookups = 0;
    const verifying = new Map(real.verifying);
    const get = verifying.get.bind(verifying);
    verifying.get = (kid: string) => {
      lookups += 1;
      return get(kid);
    };
    keys = { ...real, verifying };
    clock = new ManualClock(T0);
  });

  it('serves a token again without checking its signature, with the same claims', async () => {
    const tokens = createAccessTokens({ keys, clock, ...options });
    const { token } = await tokens.issue('oUser', 'family1');
    const first = await tokens.verify(token);
    const second = await tokens.verify(token);
    expect(second).to.deep.equal(first);
    expect(lookups).to.equal(1);
    // One object answers every presentation, so nobody may change it.
    expect(Object.isFrozen(second)).to.equal(true);
  });

  it('recalls only a token that verified before and has not expired', async () => {
    const tokens = createAccessTokens({ keys, clock, ...options });
    const { token, exp } = await tokens.issue('oUser', 'family1');
    expect(tokens.recall(token), 'issued but never verified').to.equal(undefined);
    const verified = await tokens.verify(token);
    expect(tokens.recall(token)).to.equal(verified);
    expect(tokens.recall(`${token} `)).to.equal(undefined);
    expect(tokens.recall(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`)).to.equal(undefined);
    clock.set(exp * 1000);
    expect(tokens.recall(token)).to.equal(undefined);
    expect(lookups).to.equal(1);
  });

  it('still refuses a cached token from its exp second on, and forgets it', async () => {
    const tokens = createAccessTokens({ keys, clock, ...options });
    const { token, exp } = await tokens.issue('oUser', 'family1');
    await tokens.verify(token);
    clock.set(exp * 1000 - 1);
    await tokens.verify(token);
    clock.set(exp * 1000);
    expect((await refused(tokens, token)).message).to.contain('expired');
    expect((await refused(tokens, token)).message).to.contain('expired');
    expect(lookups).to.equal(2);
  });

  it('honours the clock tolerance on a hit as jose does on a miss', async () => {
    const tokens = createAccessTokens({ keys, clock, ...options, clockToleranceS: 30 });
    const { token, exp } = await tokens.issue('oUser', 'family1');
    await tokens.verify(token);
    clock.set((exp + 30) * 1000 - 1);
    expect((await tokens.verify(token)).sub).to.equal('oUser');
    clock.set((exp + 30) * 1000);
    expect((await refused(tokens, token)).message).to.contain('expired');
  });

  it('never serves a tampered copy of a cached token', async () => {
    const tokens = createAccessTokens({ keys, clock, ...options });
    const { token } = await tokens.issue('oUser', 'family1');
    await tokens.verify(token);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload)));
    const otherPayload = base64url.encode(JSON.stringify({ ...claims, sub: 'oVictim' }));
    const flipped = `${signature.slice(0, -2)}${signature.at(-2) === 'A' ? 'B' : 'A'}${signature.at(-1)}`;
    for (const tampered of [`${header}.${otherPayload}.${signature}`, `${header}.${payload}.${flipped}`]) {
      expect((await refused(tokens, tampered)).message).to.contain('signature');
    }
  });

  it('remembers no failure: a token refused once verifies once it is valid', async () => {
    const tokens = createAccessTokens({ keys, clock, ...options });
    const { token, exp } = await tokens.issue('oUser', 'family1');
    clock.set(exp * 1000);
    await refused(tokens, token);
    clock.set(T0);
    expect((await tokens.verify(token)).sub).to.equal('oUser');
  });

  it('holds at most cacheSize tokens, dropping the oldest, and none with cacheSize 0', async () => {
    const tokens = createAccessTokens({ keys, clock, ...options, cacheSize: 2 });
    const [a, b, c] = await Promise.all(['oA', 'oB', 'oC'].map((sub) => tokens.issue(sub, 'family1')));
    await tokens.verify(a!.token);
    await tokens.verify(b!.token);
    await tokens.verify(a!.token);
    expect(lookups).to.equal(2);
    await tokens.verify(c!.token); // evicts a, the oldest
    await tokens.verify(b!.token);
    await tokens.verify(c!.token);
    expect(lookups).to.equal(3);
    await tokens.verify(a!.token);
    expect(lookups).to.equal(4);

    const uncached = createAccessTokens({ keys, clock, ...options, cacheSize: 0 });
    await uncached.verify(a!.token);
    await uncached.verify(a!.token);
    expect(lookups).to.equal(6);
  });

  it('keeps one cache per instance', async () => {
    const one = createAccessTokens({ keys, clock, ...options });
    const other = createAccessTokens({ keys, clock, ...options });
    const { token } = await one.issue('oUser', 'family1');
    await one.verify(token);
    await other.verify(token);
    expect(lookups).to.equal(2);
  });
});
