import { expect } from 'chai';
import { base64url, SignJWT } from 'jose';
import {
  createVerifier,
  InvalidTokenError,
  JwksUnavailableError,
  type Verifier,
  type VerifierError,
} from '../../packages/verifier/src/index.js';
import { type Harness, startHarness } from '../helpers/harness.js';
import { freePort } from '../setup/redis.js';
import { type Issuer, startIssuer } from './issuer.js';

async function refusal(verifier: Verifier, token: string): Promise<VerifierError> {
  try {
    await verifier.verify(token);
  } catch (error) {
    expect(error).to.have.property('code');
    return error as VerifierError;
  }
  throw new Error('the token was accepted');
}

const jwksFetches = (issuer: Issuer) => issuer.requests.filter((p) => p === '/.well-known/jwks.json').length;
const discoveries = (issuer: Issuer) =>
  issuer.requests.filter((p) => p === '/.well-known/openid-configuration').length;

/** A token as wxauth signs it, with some header or claims changed: signed with wxauth's own key. */
function forge(
  h: Harness,
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
): Promise<string> {
  const iat = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: h.config.tokens.issuer,
    aud: h.config.tokens.audience,
    sub: 'oForged',
    sid: 'family1',
    iat,
    exp: iat + 60,
    jti: 'j1',
    ...claims,
  })
    .setProtectedHeader({
      alg: h.keys.signing.alg,
      typ: 'at+jwt',
      kid: h.keys.signing.kid,
      ...header,
    } as never)
    .sign(h.keys.signing.key);
}

describe('@wxauth/verifier against the real wxauth over HTTP', () => {
  let issuer: Issuer;
  beforeEach(async () => {
    issuer = await startIssuer();
  });
  afterEach(async () => {
    await issuer.close();
  });

  it('finds the keys by discovery from the issuer alone and resolves openid, sid, client_id, exp, iat and jti', async () => {
    const verifier = createVerifier({ issuer: issuer.url, audience: 'wxauth' });
    const login = await issuer.h.login();
    const verified = await verifier.verify(login.access_token);
    expect(verified).to.include({ openid: login.openid, clientId: issuer.h.emulator.appid });
    expect(verified.sid).to.be.a('string').with.length.above(0);
    expect(verified.exp - verified.iat).to.equal(900);
    expect(verified.jti).to.be.a('string');
    expect(verified.claims.iss).to.equal(issuer.url);
    expect(Object.isFrozen(verified)).to.equal(true);
    expect(discoveries(issuer)).to.equal(1);
    expect(jwksFetches(issuer)).to.equal(1);
  });

  it('refuses, with code invalid_token, what wxauth itself refuses', async () => {
    const h = issuer.h;
    const verifier = createVerifier({ issuer: issuer.url, audience: 'wxauth' });
    const login = await h.login();
    const [header, payload, signature] = login.access_token.split('.') as [string, string, string];
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload)));
    h.clock.set(Date.now() - 3600_000);
    const expired = (await h.login()).access_token;
    h.clock.set(Date.now());
    const cases: Record<string, string> = {
      'another subject': `${header}.${base64url.encode(JSON.stringify({ ...claims, sub: 'oVictim' }))}.${signature}`,
      'a changed signature': `${header}.${payload}.${signature.slice(0, -4)}AAAA`,
      expired,
      'another audience': await forge(h, {}, { aud: 'other' }),
      'another issuer': await forge(h, {}, { iss: 'https://evil.example' }),
      'typ JWT': await forge(h, { typ: 'JWT' }, {}),
      'a jku': await forge(h, { jku: 'https://evil.example/jwks' }, {}),
      'an x5u': await forge(h, { x5u: 'https://evil.example/cert' }, {}),
      'no jti': await forge(h, {}, { jti: undefined }),
      'a sid that is not a string': await forge(h, {}, { sid: 7 }),
      'a client_id that is not a string': await forge(h, {}, { client_id: 7 }),
      'a unionid that is not a string': await forge(h, {}, { unionid: 7 }),
      'alg none': `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid: h.keys.signing.kid }))}.${payload}.`,
      garbage: 'a.b.c',
      'too long': 'e'.repeat(5000),
    };
    for (const [what, token] of Object.entries(cases)) {
      const error = await refusal(verifier, token);
      expect(error, what).to.be.instanceOf(InvalidTokenError);
      expect(error.code, what).to.equal('invalid_token');
      expect(error.status, what).to.equal(401);
    }
    expect((await refusal(verifier, expired)).message).to.contain('expired');
    // And still accepts the genuine one.
    expect((await verifier.verify(login.access_token)).openid).to.equal(login.openid);
  });

  it('accepts a token of an older wxauth without client_id until it expires', async () => {
    const verifier = createVerifier({ issuer: issuer.url, audience: 'wxauth' });
    const older = await forge(issuer.h, {}, {});
    const verified = await verifier.verify(older);
    expect(verified).to.include({ openid: 'oForged', clientId: undefined });
  });

  it('accepts a token whose aud is any one of an audience list, and a token with a list of audiences', async () => {
    const h = issuer.h;
    const login = await h.login();
    const listed = createVerifier({ issuer: issuer.url, audience: ['wxauth-shop', 'wxauth'] });
    expect((await listed.verify(login.access_token)).openid).to.equal(login.openid);
    const appToken = await forge(h, {}, { aud: ['wxauth-shop', 'wxauth-other'] });
    expect((await listed.verify(appToken)).openid).to.equal('oForged');
    const single = createVerifier({ issuer: issuer.url, audience: 'wxauth-other' });
    expect((await single.verify(appToken)).openid).to.equal('oForged');
    const neither = createVerifier({ issuer: issuer.url, audience: ['wxauth-a', 'wxauth-b'] });
    expect((await refusal(neither, login.access_token)).code).to.equal('invalid_token');
    expect((await refusal(neither, appToken)).message).to.contain('"aud"');
  });

  it('resolves unionid when the token carries one, undefined otherwise, and refuses one that is not a string', async () => {
    const verifier = createVerifier({ issuer: issuer.url, audience: 'wxauth' });
    const linked = await forge(issuer.h, {}, { client_id: 'wxShop', unionid: 'oUnion1' });
    expect(await verifier.verify(linked)).to.include({ clientId: 'wxShop', unionid: 'oUnion1' });
    const login = await issuer.h.login();
    expect(await verifier.verify(login.access_token)).to.have.property('unionid', undefined);
    for (const unionid of [7, null, ['oUnion1'], { id: 'oUnion1' }]) {
      const error = await refusal(verifier, await forge(issuer.h, {}, { unionid }));
      expect(error, JSON.stringify(unionid)).to.be.instanceOf(InvalidTokenError);
      expect(error.message).to.contain('"unionid"');
    }
  });

  it('checks exp with no leeway by default, and allows the configured clock tolerance', async () => {
    const login = await issuer.h.login();
    const exp = (await createVerifier({ issuer: issuer.url, audience: 'wxauth' }).verify(login.access_token))
      .exp;
    let now = exp * 1000 - 1;
    const strict = createVerifier({ issuer: issuer.url, audience: 'wxauth', now: () => now });
    expect((await strict.verify(login.access_token)).openid).to.equal(login.openid);
    now = exp * 1000;
    expect(strict.recall(login.access_token), 'a cache hit checks exp too').to.equal(undefined);
    expect((await refusal(strict, login.access_token)).message).to.contain('expired');
    const lenient = createVerifier({
      issuer: issuer.url,
      audience: 'wxauth',
      now: () => now,
      clockTolerance: 30,
    });
    expect((await lenient.verify(login.access_token)).openid).to.equal(login.openid);
  });

  it('accepts only the algorithms of the key set, each key with its own', async () => {
    const verifier = createVerifier({ issuer: issuer.url, audience: 'wxauth' });
    await verifier.ready();
    const h = issuer.h;
    const { generateKeyPair } = await import('jose');
    const { privateKey } = await generateKeyPair('RS256');
    const iat = Math.floor(Date.now() / 1000);
    const rs = await new SignJWT({ iss: issuer.url, aud: 'wxauth', sub: 'o', iat, exp: iat + 60, jti: 'j' })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: h.keys.signing.kid })
      .sign(privateKey);
    expect((await refusal(verifier, rs)).message).to.contain('algorithm');
    const hs = await new SignJWT({ iss: issuer.url, aud: 'wxauth', sub: 'o', iat, exp: iat + 60, jti: 'j' })
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: h.keys.signing.kid })
      .sign(new TextEncoder().encode('secret'));
    expect((await refusal(verifier, hs)).code).to.equal('invalid_token');
  });

  it('caches the keys, and fetches them again for an unknown kid at most once per cooldown', async () => {
    let now = Date.now();
    const verifier = createVerifier({
      issuer: issuer.url,
      audience: 'wxauth',
      now: () => now,
      cooldownMs: 30_000,
    });
    for (let i = 0; i < 5; i += 1) await verifier.verify((await issuer.h.login()).access_token);
    expect(jwksFetches(issuer)).to.equal(1);
    // A flood of forged kids: within the cooldown of the last fetch, none; after it, one for the first.
    const flood = async (n: number) => {
      for (let i = 0; i < n; i += 1) {
        const error = await refusal(verifier, await forge(issuer.h, { kid: `forged-${now}-${i}` }, {}));
        expect(error.message).to.contain('unknown kid');
      }
    };
    await flood(20);
    expect(jwksFetches(issuer)).to.equal(1);
    now += 30_000;
    await flood(20);
    expect(jwksFetches(issuer)).to.equal(2);
    now += 29_999;
    await flood(5);
    expect(jwksFetches(issuer)).to.equal(2);
    now += 1;
    await flood(5);
    expect(jwksFetches(issuer)).to.equal(3);
    expect(discoveries(issuer)).to.equal(1);
  });

  it('caches verified tokens, bounded, the oldest going first', async () => {
    const verifier = createVerifier({ issuer: issuer.url, audience: 'wxauth', cacheSize: 2 });
    const [a, b, c] = [await issuer.h.login(), await issuer.h.login(), await issuer.h.login()];
    expect(verifier.recall(a.access_token), 'never verified').to.equal(undefined);
    const first = await verifier.verify(a.access_token);
    expect(verifier.recall(a.access_token)).to.equal(first);
    expect(await verifier.verify(a.access_token)).to.equal(first);
    expect(
      verifier.recall(`${a.access_token.slice(0, -1)}${a.access_token.endsWith('A') ? 'B' : 'A'}`),
    ).to.equal(undefined);
    await verifier.verify(b.access_token);
    await verifier.verify(c.access_token);
    expect(verifier.recall(a.access_token), 'evicted').to.equal(undefined);
    expect(verifier.recall(b.access_token)).not.to.equal(undefined);
    expect(verifier.recall(c.access_token)).not.to.equal(undefined);
  });

  it('follows a key rotation without a restart: the next key is published before it signs', async () => {
    const { mkdtempSync, writeFileSync, readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const { addNextKey, generatePrivateJwks, promoteNextKey } = await import('../../src/tokens/index.js');
    const dir = mkdtempSync(join(tmpdir(), 'wxauth-verifier-rotation-'));
    const write = (name: string, jwks: unknown) => {
      writeFileSync(join(dir, name), JSON.stringify(jwks));
      return { JWT_SIGNING_KEYS_FILE: join(dir, name) };
    };
    const initial = await generatePrivateJwks();
    const withNext = await addNextKey(initial);
    const promoted = promoteNextKey(withNext);
    let now = Date.now();
    const verifier = createVerifier({ issuer: issuer.url, audience: 'wxauth', now: () => now });

    await issuer.restart({ env: write('0.json', initial) });
    const old = (await issuer.h.login()).access_token;
    await verifier.verify(old);
    await issuer.restart({ env: write('1.json', withNext) });
    // Past the JWKS's max-age (wxauth says 300 s), the next token looked up refetches the keys.
    now += 301_000;
    await verifier.verify((await issuer.h.login()).access_token);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(jwksFetches(issuer)).to.equal(2);
    await issuer.restart({ env: write('2.json', promoted) });
    const fresh = (await issuer.h.login()).access_token;
    expect((await verifier.verify(fresh)).openid).to.be.a('string');
    expect((await verifier.verify(old)).openid).to.be.a('string');
    expect(jwksFetches(issuer), 'the new key was known before it signed').to.equal(2);
    expect(JSON.parse(readFileSync(join(dir, '2.json'), 'utf8')).keys).to.have.length(2);
  });

  it('verifies with its cached keys while wxauth is down, and says clearly when it has none', async () => {
    const verifier = createVerifier({ issuer: issuer.url, audience: 'wxauth' });
    const errors: Error[] = [];
    let now = Date.now();
    const watched = createVerifier({
      issuer: issuer.url,
      audience: 'wxauth',
      now: () => now,
      onError: (error) => errors.push(error),
    });
    const before = (await issuer.h.login()).access_token;
    const later = (await issuer.h.login()).access_token;
    await verifier.verify(before);
    await watched.verify(before);
    await issuer.down();
    expect((await verifier.verify(later)).openid, 'a token never seen, by a cached key').to.be.a('string');
    now += 301_000; // past max-age: the background refresh fails, the keys stay
    expect((await watched.verify(later)).openid).to.be.a('string');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(errors).to.have.length(1);
    expect(errors[0]).to.be.instanceOf(JwksUnavailableError);
    expect((await watched.verify(later)).openid).to.be.a('string');

    const cold = createVerifier({ issuer: issuer.url, audience: 'wxauth' });
    const error = await refusal(cold, later);
    expect(error).to.be.instanceOf(JwksUnavailableError);
    expect(error.code).to.equal('temporarily_unavailable');
    expect(error.status).to.equal(503);
    expect(error.message).to.contain(`${issuer.url}/.well-known/openid-configuration`);
    expect(error.message).to.contain('ECONNREFUSED');
    let readyError: unknown;
    await cold.ready().catch((e: unknown) => {
      readyError = e;
    });
    expect(readyError).to.be.instanceOf(JwksUnavailableError);
  });

  it('refuses a discovery document naming another issuer, and a JWKS that is not one', async () => {
    const port = await freePort();
    const other = await startHarness({ store: 'memory', env: { PUBLIC_URL: `http://127.0.0.1:${port}` } });
    const { createServer } = await import('node:http');
    const server = createServer(other.app.callback()).listen(port, '127.0.0.1');
    try {
      const named = `http://127.0.0.1:${port}/`;
      const token = (await other.login()).access_token;
      const error = await refusal(createVerifier({ issuer: named, audience: 'wxauth' }), token);
      expect(error).to.be.instanceOf(JwksUnavailableError);
      expect(error.message).to.contain('names the issuer');
      const notJwks = createVerifier({
        issuer: issuer.url,
        audience: 'wxauth',
        jwksUri: `${issuer.url}/healthz`,
      });
      const login = await issuer.h.login();
      expect((await refusal(notJwks, login.access_token)).message).to.contain('no "keys" array');
    } finally {
      server.close();
      await other.close();
    }
  });

  it('needs an issuer and an audience, and jwksUri for an issuer that is not a URL', () => {
    expect(() => createVerifier({ issuer: '', audience: 'wxauth' })).to.throw(TypeError);
    expect(() => createVerifier({ issuer: 'wxauth', audience: 'wxauth' })).to.throw(/jwksUri/);
    expect(() =>
      createVerifier({ issuer: 'wxauth', audience: 'wxauth', jwksUri: 'http://x/jwks' }),
    ).not.to.throw();
  });
});
