import { AuthError } from './errors.js';

/**
 * The pieces of an OAuth 2.0 authorization code flow with PKCE (RFC 7636) and an OpenID Connect nonce
 * that a browser runs itself: random values, the S256 challenge, the request kept across the redirect,
 * and the checks of the ID token. web-auth.ts wires them to a WebAuth.
 */

/** The discovery document's fields the browser uses. */
export interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  /** RFC 9207: true when every authorization response carries `iss`. */
  authorization_response_iss_parameter_supported?: boolean;
}

/** What is kept in sessionStorage between loginWithRedirect() and handleRedirectCallback(). */
export interface PendingRedirect {
  v: 1;
  verifier: string;
  nonce: string;
  clientId: string;
  redirectUri: string;
  /** Epoch ms of the SDK's clock: a pending request older than PENDING_MAX_AGE_MS is not taken. */
  createdAt: number;
}

/** The prefix of the keys of pending redirects in sessionStorage; the state follows it. */
export const PENDING_PREFIX = 'wxauth:oauth:';
/** wxauth keeps an authorization request 10 minutes; a callback later than that cannot succeed. */
export const PENDING_MAX_AGE_MS = 15 * 60_000;
/** Clocks of browsers are off by minutes at times: an ID token's exp is allowed this much. */
const CLOCK_SKEW_MS = 5 * 60_000;

/** `bytes` random bytes (crypto.getRandomValues), base64url without padding: 32 bytes are 43 characters. */
export function randomText(bytes = 32): string {
  const buffer = new Uint8Array(bytes);
  crypto.getRandomValues(buffer);
  return base64url(buffer);
}

/** RFC 7636 §4.2 S256: BASE64URL(SHA256(ASCII(verifier))), by crypto.subtle. */
export async function challengeOf(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function isPending(value: unknown): value is PendingRedirect {
  const p = value as Partial<PendingRedirect> | null;
  return (
    typeof p === 'object' &&
    p !== null &&
    p.v === 1 &&
    typeof p.verifier === 'string' &&
    typeof p.nonce === 'string' &&
    typeof p.clientId === 'string' &&
    typeof p.redirectUri === 'string' &&
    typeof p.createdAt === 'number'
  );
}

/** The claims of an ID token the SDK checked. */
export interface IdTokenClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  nonce?: string;
  auth_time?: number;
  unionid?: string;
  [claim: string]: unknown;
}

/**
 * OIDC Core §3.1.3.7's checks of the ID token, except its signature: iss is the discovery document's
 * issuer, aud contains the client (and azp, when there are several audiences, is the client), exp is
 * ahead, and nonce is the one this browser sent. The signature is not verified here on purpose: the
 * token came straight from the token endpoint over the connection the browser opened (§3.1.3.7 item 6
 * lets TLS server validation stand in for it), and checking it would put a JOSE library into the SDK.
 */
export function checkIdToken(
  idToken: string,
  expected: { issuer: string; clientId: string; nonce: string; nowMs: number },
): IdTokenClaims {
  const claims = payloadOf(idToken);
  const fail = (why: string) => new AuthError('invalid_id_token', `The ID token was refused: ${why}.`);
  if (claims === undefined) throw fail('it is not a JWT');
  if (claims.iss !== expected.issuer) throw fail('its iss is not the issuer of the discovery document');
  const aud = claims.aud;
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (!audiences.includes(expected.clientId)) throw fail('its aud is not this client');
  if (audiences.length > 1 && claims.azp !== expected.clientId) throw fail('its azp is not this client');
  if (typeof claims.exp !== 'number' || claims.exp * 1000 + CLOCK_SKEW_MS <= expected.nowMs)
    throw fail('it has expired');
  if (typeof claims.sub !== 'string' || claims.sub === '') throw fail('it names no subject');
  if (claims.nonce !== expected.nonce) throw fail('its nonce is not the one this browser sent');
  return claims as IdTokenClaims;
}

/** A compact JWS's payload, or undefined when it is none. */
function payloadOf(jwt: string): Record<string, unknown> | undefined {
  const parts = jwt.split('.');
  if (parts.length !== 3 || parts[1] === undefined) return undefined;
  try {
    const base64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    const value: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

export function isDiscovery(value: unknown): value is Discovery {
  const d = value as Partial<Discovery> | null;
  return (
    typeof d === 'object' &&
    d !== null &&
    typeof d.issuer === 'string' &&
    typeof d.authorization_endpoint === 'string' &&
    typeof d.token_endpoint === 'string'
  );
}
