import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { ManualClock } from '../../src/lib/index.js';
import { createIdTokens, generateEphemeralKeySet, SUPPORTED_ALGORITHMS } from '../../src/tokens/index.js';

const ISSUER = 'https://auth.example.com';
const ACCESS_TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJvQWJjIn0.c2ln';

describe('ID tokens', () => {
  for (const alg of SUPPORTED_ALGORITHMS) {
    it(`signs with the ${alg} key set's signing key, typ JWT, verified by jose against its JWKS`, async () => {
      const keys = await generateEphemeralKeySet(alg);
      const clock = new ManualClock(Date.UTC(2030, 0, 1, 12));
      const sign = createIdTokens({ keys, clock, issuer: ISSUER, ttlS: 900 });
      const authTimeMs = clock.now() - 30_000;
      const token = sign({
        sub: 'oAbc',
        aud: 'wx1234567890abcdef',
        authTimeMs,
        nonce: 'n-0S6',
        unionid: 'oUnion',
        accessToken: ACCESS_TOKEN,
      });
      expect(decodeProtectedHeader(token)).to.deep.equal({ alg, typ: 'JWT', kid: keys.signing.kid });
      const { payload } = await jwtVerify(token, createLocalJWKSet(keys.publicJwks), {
        issuer: ISSUER,
        audience: 'wx1234567890abcdef',
        typ: 'JWT',
        currentDate: new Date(clock.now()),
      });
      const iat = clock.now() / 1000;
      expect(payload).to.deep.equal({
        iss: ISSUER,
        sub: 'oAbc',
        aud: 'wx1234567890abcdef',
        exp: iat + 900,
        iat,
        auth_time: authTimeMs / 1000,
        nonce: 'n-0S6',
        unionid: 'oUnion',
        // OIDC Core §3.1.3.6: the left half of the hash JWA pairs with alg (SHA-512 for Ed25519).
        at_hash: leftHalf(ACCESS_TOKEN, alg === 'EdDSA' ? 'sha512' : 'sha256'),
      });
    });
  }

  it('leaves out nonce, unionid and at_hash when not given', async () => {
    const keys = await generateEphemeralKeySet();
    const sign = createIdTokens({ keys, clock: new ManualClock(), issuer: ISSUER, ttlS: 60 });
    const { payload } = await jwtVerify(
      sign({ sub: 'o', aud: 'a', authTimeMs: Date.now() }),
      createLocalJWKSet(keys.publicJwks),
    );
    expect(Object.keys(payload).sort()).to.deep.equal(['aud', 'auth_time', 'exp', 'iat', 'iss', 'sub']);
  });
});

function leftHalf(text: string, hash: string): string {
  const digest = createHash(hash).update(text).digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}
