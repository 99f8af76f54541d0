import { decodeProtectedHeader, type JWTPayload, errors as joseErrors, jwtVerify } from 'jose';
import { InvalidTokenError, VerifierError } from './errors.js';
import { ASYMMETRIC_ALGORITHMS, type Fetch, RemoteKeys } from './keys.js';

export interface VerifierOptions {
  /** wxauth's issuer: its PUBLIC_URL (or JWT_ISSUER), exactly as in the tokens' `iss`. */
  issuer: string;
  /** The tokens' `aud` (wxauth's JWT_AUDIENCE, `wxauth` by default); several: any of them. */
  audience: string | string[];
  /** Where the public keys are; default: found by discovery at `<issuer>/.well-known/openid-configuration`. */
  jwksUri?: string;
  /** Seconds of clock skew allowed on `exp`; default 0: a token is refused from its `exp` second on. */
  clockTolerance?: number;
  /** Least time between two fetches of the keys caused by an unknown kid, milliseconds; default 30,000. */
  cooldownMs?: number;
  /** How long fetched keys are used before they are fetched again; default the JWKS's max-age (wxauth: 300 s). */
  maxAgeMs?: number;
  /** Time allowed for one fetch of discovery or the JWKS, milliseconds; default 5,000. */
  timeoutMs?: number;
  /** Verified tokens remembered (the oldest goes first); 0: none. Default 10,000. */
  cacheSize?: number;
  /** Epoch milliseconds; default Date.now. */
  now?: () => number;
  /** Default: the global fetch. */
  fetch?: Fetch;
  /** A background refresh of the keys failed (the keys already had keep working). */
  onError?: (error: Error) => void;
}

/** A verified access token. Frozen: one object answers every presentation of the same token. */
export interface VerifiedToken {
  /** `sub`: the WeChat openid of the user. */
  readonly openid: string;
  /** The session (wxauth's refresh-token family) that issued the token; absent in tokens of older wxauths. */
  readonly sid: string | undefined;
  /** `client_id`: the appid of the WeChat app the person logged in through; absent in tokens of older wxauths. */
  readonly clientId: string | undefined;
  /** `unionid`: the person across the apps of one WeChat open-platform account, when the app asks for it in its tokens. */
  readonly unionid: string | undefined;
  readonly exp: number;
  readonly iat: number;
  readonly jti: string;
  /** Every claim of the token. */
  readonly claims: Readonly<JWTPayload>;
}

export interface Verifier {
  /**
   * Resolves the token's subject, or rejects with InvalidTokenError (`code` invalid_token: answer 401)
   * or JwksUnavailableError (`code` temporarily_unavailable: no key could be had; answer 503).
   */
  verify(token: string): Promise<VerifiedToken>;
  /** A token verified before and not expired, at the cost of a map lookup; else undefined (then call verify). */
  recall(token: string): VerifiedToken | undefined;
  /** Fetches the keys now: call it at start-up to fail early on a wrong issuer and make the first request fast. */
  ready(): Promise<void>;
}

/** Header members naming a key elsewhere: wxauth never sends them, so a token carrying one is forged. */
const FOREIGN_KEY_HEADERS = ['jku', 'jwk', 'x5u', 'x5c', 'x5t', 'x5t#S256'];
const MAX_TOKEN_LENGTH = 4096;
const TYP = 'at+jwt';
const EXPIRED = 'The access token has expired: refresh it.';
/** Characters of a token that key the cache: all signature (an ES256 one is 86). */
const KEY_LENGTH = 64;

interface Entry {
  token: string;
  verified: VerifiedToken;
  generation: number;
}

/**
 * The same checks as wxauth's own: a key of the issuer's set named by exact kid, its algorithm only,
 * `iss`, `aud`, `typ: at+jwt`, `exp` (no leeway unless configured), `iat`, `sub` and `jti` required, `sid`,
 * `client_id` and `unionid` strings when present, and no token naming a key by jku, jwk, x5u or x5c.
 */
export function createVerifier(options: VerifierOptions): Verifier {
  const { issuer, audience } = options;
  if (typeof issuer !== 'string' || issuer === '') throw new TypeError('createVerifier: issuer is required');
  if (audience === undefined || audience.length === 0)
    throw new TypeError('createVerifier: audience is required');
  if (!options.jwksUri && !/^https?:\/\//.test(issuer))
    throw new TypeError('createVerifier: an issuer that is not an http(s) URL needs jwksUri (no discovery)');
  const now = options.now ?? Date.now;
  const clockTolerance = options.clockTolerance ?? 0;
  const capacity = options.cacheSize ?? 10_000;
  const fetchImpl: Fetch =
    options.fetch ?? ((url, init) => globalThis.fetch(url, init) as unknown as ReturnType<Fetch>);
  const keys = new RemoteKeys({
    issuer,
    jwksUri: options.jwksUri,
    cooldownMs: options.cooldownMs ?? 30_000,
    maxAgeMs: options.maxAgeMs,
    timeoutMs: options.timeoutMs ?? 5000,
    now,
    fetch: fetchImpl,
    onError: options.onError,
  });
  // Keyed by the token's end, holding the whole token, as wxauth's cache: a lookup hashes 64 characters.
  // Insertion order is age: the first entry goes when the cache is full; a hit does not reorder.
  const cache = new Map<string, Entry>();

  const expired = (verified: VerifiedToken) => verified.exp <= Math.floor(now() / 1000) - clockTolerance;

  function cached(token: string): Entry | undefined {
    const entry = cache.get(token.slice(-KEY_LENGTH));
    return entry !== undefined && entry.token === token && entry.generation === keys.generation
      ? entry
      : undefined;
  }

  function recall(token: string): VerifiedToken | undefined {
    const entry = cached(token);
    return entry !== undefined && !expired(entry.verified) ? entry.verified : undefined;
  }

  async function verify(token: string): Promise<VerifiedToken> {
    if (typeof token !== 'string' || token.length === 0)
      throw new InvalidTokenError('No access token was given.');
    if (token.length > MAX_TOKEN_LENGTH)
      throw new InvalidTokenError('The access token is too long to be one of wxauth.');
    const hit = cached(token);
    if (hit !== undefined) {
      if (expired(hit.verified)) {
        cache.delete(token.slice(-KEY_LENGTH));
        throw new InvalidTokenError(EXPIRED);
      }
      return hit.verified;
    }
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new InvalidTokenError('The access token is malformed.');
    }
    for (const name of FOREIGN_KEY_HEADERS) {
      if (name in header)
        throw new InvalidTokenError(`The access token names a key by "${name}", which is never trusted.`);
    }
    if (typeof header.alg !== 'string' || !ASYMMETRIC_ALGORITHMS.has(header.alg))
      throw new InvalidTokenError('The access token is signed with an algorithm that is not accepted.');
    if (typeof header.kid !== 'string')
      throw new InvalidTokenError('The access token names no key (no kid).');
    const generation = keys.generation;
    const key = await keys.get(header.kid);
    if (key.alg !== header.alg)
      throw new InvalidTokenError('The access token uses an algorithm its key does not allow.');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key.key, {
        algorithms: [key.alg],
        issuer,
        audience,
        typ: TYP,
        requiredClaims: ['exp', 'iat', 'sub', 'jti'],
        currentDate: new Date(now()),
        clockTolerance,
      }));
    } catch (error) {
      throw toInvalidToken(error);
    }
    const { sub, exp, iat, jti, sid, nbf, client_id, unionid } = payload;
    if (
      typeof sub !== 'string' ||
      sub === '' ||
      typeof jti !== 'string' ||
      typeof exp !== 'number' ||
      typeof iat !== 'number'
    )
      throw new InvalidTokenError('The access token lacks sub, jti, exp or iat.');
    if (sid !== undefined && typeof sid !== 'string')
      throw new InvalidTokenError('The access token\'s "sid" claim is not a string.');
    // Not required: tokens an older wxauth issued before client_id stay valid until they expire.
    if (client_id !== undefined && typeof client_id !== 'string')
      throw new InvalidTokenError('The access token\'s "client_id" claim is not a string.');
    // Only in the tokens of apps that ask for it (and only for a person WeChat gave one).
    if (unionid !== undefined && typeof unionid !== 'string')
      throw new InvalidTokenError('The access token\'s "unionid" claim is not a string.');
    const verified: VerifiedToken = Object.freeze({
      openid: sub,
      sid,
      clientId: client_id,
      unionid,
      exp,
      iat,
      jti,
      claims: Object.freeze(payload),
    });
    // A hit checks only exp: a token with nbf (wxauth sends none) is checked in full every time.
    if (capacity > 0 && nbf === undefined) {
      cache.set(token.slice(-KEY_LENGTH), { token, verified, generation });
      if (cache.size > capacity) cache.delete(cache.keys().next().value!);
    }
    return verified;
  }

  return { verify, recall, ready: () => keys.ready() };
}

/** jose's errors are told apart by `code`, never by message text. */
function toInvalidToken(error: unknown): VerifierError {
  if (error instanceof VerifierError) return error;
  if (!(error instanceof joseErrors.JOSEError))
    return new InvalidTokenError('The access token is malformed.');
  switch (error.code) {
    case 'ERR_JWT_EXPIRED':
      return new InvalidTokenError(EXPIRED);
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const claim = (error as joseErrors.JWTClaimValidationFailed).claim;
      return new InvalidTokenError(`The access token's "${claim}" claim is missing or not accepted here.`);
    }
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return new InvalidTokenError('The access token signature does not verify.');
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return new InvalidTokenError('The access token is signed with an algorithm that is not accepted.');
    default:
      return new InvalidTokenError('The access token is malformed.');
  }
}
