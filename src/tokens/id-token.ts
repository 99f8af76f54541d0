import { createHash } from 'node:crypto';
import { type Clock, epochSeconds } from '../lib/index.js';
import type { KeySet } from './keys.js';
import { createSigner } from './signer.js';

/**
 * OpenID Connect ID tokens (Core §2, §3.1.3.6) for the browser login of official accounts and websites,
 * signed with the same key set as the access tokens (so the one JWKS verifies both) but typed `JWT`,
 * not `at+jwt`: an access-token verifier refuses an ID token presented as a Bearer token.
 */
export interface IdTokenClaims {
  /** The openid: one per app, so the subject is pairwise (Core §8.1). */
  sub: string;
  /** The client_id (the app's appid). */
  aud: string;
  /** When the person authenticated at WeChat, epoch ms. */
  authTimeMs: number;
  nonce?: string;
  unionid?: string;
  /** The access token issued beside it, for at_hash (Core §3.1.3.6). */
  accessToken?: string;
}

export type IdTokens = (claims: IdTokenClaims) => string;

export function createIdTokens(options: {
  keys: KeySet;
  clock: Clock;
  issuer: string;
  ttlS: number;
}): IdTokens {
  const { keys, clock, issuer, ttlS } = options;
  const sign = createSigner(keys.signing, 'JWT');
  return (claims) => {
    const iat = epochSeconds(clock.now());
    return sign({
      iss: issuer,
      sub: claims.sub,
      aud: claims.aud,
      exp: iat + ttlS,
      iat,
      auth_time: epochSeconds(claims.authTimeMs),
      ...(claims.nonce === undefined ? {} : { nonce: claims.nonce }),
      ...(claims.unionid === undefined ? {} : { unionid: claims.unionid }),
      ...(claims.accessToken === undefined ? {} : { at_hash: atHash(claims.accessToken, keys.signing.alg) }),
    });
  };
}

/**
 * Core §3.1.3.6: the left half of the access token's hash, with the hash of the signature's algorithm
 * (SHA-256 for ES256, RS256 and PS256; Ed25519's EdDSA signs with SHA-512, as the OpenID Foundation's
 * registry of EdDSA for at_hash says).
 */
function atHash(accessToken: string, alg: string): string {
  const digest = createHash(alg === 'EdDSA' ? 'sha512' : 'sha256')
    .update(accessToken, 'ascii')
    .digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}
