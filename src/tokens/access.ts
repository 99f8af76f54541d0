import { type JWTPayload, type JWTVerifyResult, errors as joseErrors, jwtVerify } from 'jose';
import { InvalidToken, TemporarilyUnavailable } from '../errors/index.js';
import { type Clock, epochSeconds, randomId } from '../lib/index.js';
import type { KeySet } from './keys.js';
import type { Revocations } from './revocations.js';
import { createSigner } from './signer.js';

export interface AccessTokenOptions {
  keys: KeySet;
  clock: Clock;
  issuer: string;
  /** `aud` of a token issued without a grant of its own (see issue). */
  audience: string;
  /**
   * `client_id` of a token issued without a grant of its own (RFC 9068 §2.2): the appid of the app the
   * person logged in through. Standard RFC 9068 validators refuse a token without it.
   */
  clientId: string;
  /**
   * Every `aud` a presented token may carry (one is enough): each app's audience. Default: `audience`.
   */
  acceptedAudiences?: readonly string[];
  ttlS: number;
  clockToleranceS: number;
  /**
   * How many verified tokens to remember (the oldest entry goes first), so that a client presenting its
   * token again costs a map lookup instead of a signature check. 0: none. Default 10,000 (a few MB).
   */
  cacheSize?: number;
  /**
   * Ended sessions: a token whose `sid` is among them is refused, by verify and recall alike, so the
   * cache never keeps a revoked token alive. None: no token is ever refused for its session.
   */
  revocations?: Revocations;
}

export interface IssuedAccessToken {
  token: string;
  expiresIn: number;
  exp: number;
}

/** Which app a token is for, and what that app asks to have in it. */
export interface AccessGrant {
  /** The app's appid: `client_id`. */
  clientId: string;
  /** The app's audience: `aud` (a list of one is written as a string). */
  audience: readonly string[];
  /** Put in as the `unionid` claim (the app asked for it and it is known). */
  unionid?: string;
}

/** Frozen: one object may answer every presentation of the same token. */
export interface VerifiedAccessToken {
  readonly sub: string;
  /** The session (refresh-token family) that issued the token; absent in tokens issued before sid existed. */
  readonly sid: string | undefined;
  /** The app the token was issued for; absent in tokens issued before client_id existed (until they expire). */
  readonly clientId: string | undefined;
  /** Only when the token's app asks for it (its `claims`). */
  readonly unionid: string | undefined;
  readonly exp: number;
  readonly iat: number;
  readonly jti: string;
}

export interface AccessTokens {
  /**
   * `sid`: the id of the session (refresh-token family) the token is issued for; never the refresh token.
   * `grant`: the app it is for; default the options' clientId and audience.
   */
  issue(openid: string, sid: string, grant?: AccessGrant): Promise<IssuedAccessToken>;
  /**
   * Verifies signature, typ, alg, iss, aud and lifetime from the token and the key set alone. A token
   * that verified before is found in a bounded cache of this instance and only its `exp` is checked again.
   */
  verify(token: string): Promise<VerifiedAccessToken>;
  /**
   * The claims of a token that verified before, has not expired and whose session has not ended, at the
   * cost of two map lookups; else undefined (then call verify). Only an exact copy of a verified token is
   * found, so what it was given needs no other check.
   */
  recall(token: string): VerifiedAccessToken | undefined;
}

/** Header members that point at keys elsewhere. We never issue them, so a token carrying one is forged. */
const FOREIGN_KEY_HEADERS = ['jku', 'jwk', 'x5u', 'x5c', 'x5t', 'x5t#S256'];
const MAX_TOKEN_LENGTH = 4096;
const TYP = 'at+jwt';
const DEFAULT_CACHE_SIZE = 10_000;
const EXPIRED = 'The access token has expired: refresh it.';
const REVOKED =
  'The session of this access token has ended (logged out, ended elsewhere, or the account deleted).';
const NOT_READY =
  'This instance has not yet read the record of ended sessions from its store, so it cannot tell whether this token is still valid; retry shortly.';

/**
 * Tokens that verified, with their claims. Only an exact copy of a token that passed every check is
 * found here, so a hit needs no signature, issuer, audience or typ check again; what changes with time
 * (`exp`) is checked on every hit. Failures are never remembered.
 *
 * The map is keyed by the token's last KEY_LENGTH characters (its signature's end) and each entry holds
 * the whole token, which a hit must equal: a lookup then hashes 64 characters instead of the whole token
 * (a new string on every request, so its hash is never cached), and the comparison that follows is a
 * plain memory compare. A token sharing a cached token's end but not its whole is a miss.
 *
 * A Map iterates in insertion order, so the first entry is the oldest, and the one to go when the cache
 * is full. A hit does not move its entry (a lookup stays one Map.get): a token still in use when it
 * reaches the front is verified again once, which costs less than reordering on every hit.
 */
class VerifiedTokens {
  private readonly entries = new Map<string, { token: string; claims: VerifiedAccessToken }>();

  constructor(private readonly capacity: number) {}

  get(token: string): VerifiedAccessToken | undefined {
    const entry = this.entries.get(token.slice(-KEY_LENGTH));
    return entry !== undefined && entry.token === token ? entry.claims : undefined;
  }

  set(token: string, claims: VerifiedAccessToken): void {
    if (this.capacity <= 0) return;
    this.entries.set(token.slice(-KEY_LENGTH), { token, claims });
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  delete(token: string): void {
    if (this.get(token) !== undefined) this.entries.delete(token.slice(-KEY_LENGTH));
  }
}

/** Characters of a token that key the cache: all signature, whatever the algorithm (Ed25519's is 86). */
const KEY_LENGTH = 64;

export function createAccessTokens(options: AccessTokenOptions): AccessTokens {
  const { keys, clock, issuer, audience, clientId, ttlS, clockToleranceS, revocations } = options;
  const accepted = [...(options.acceptedAudiences ?? [audience])];
  const verified = new VerifiedTokens(options.cacheSize ?? DEFAULT_CACHE_SIZE);

  const signToken = createSigner(keys.signing, TYP);

  async function issue(openid: string, sid: string, grant?: AccessGrant): Promise<IssuedAccessToken> {
    const iat = epochSeconds(clock.now());
    const exp = iat + ttlS;
    const aud =
      grant === undefined ? audience : grant.audience.length === 1 ? grant.audience[0]! : [...grant.audience];
    // The claims in the order jose's SignJWT wrote them before (client_id, added since, beside sub).
    const token = signToken({
      sid,
      iss: issuer,
      aud,
      sub: openid,
      client_id: grant?.clientId ?? clientId,
      ...(grant?.unionid === undefined ? {} : { unionid: grant.unionid }),
      iat,
      exp,
      jti: randomId(16),
    });
    return { token, expiresIn: ttlS, exp };
  }

  function recall(token: string): VerifiedAccessToken | undefined {
    const cached = verified.get(token);
    if (cached === undefined || expired(cached)) return undefined;
    // Revoked, or not sure yet: verify() says which.
    if (revocations !== undefined && (!revocations.current || revocations.revoked(cached.sid)))
      return undefined;
    return cached;
  }

  /**
   * After the signature: refuses a token of an ended session, once the memory of them is current; and
   * answers none before that memory was ever filled (503: another instance, or this one shortly, can).
   */
  async function admit(claims: VerifiedAccessToken): Promise<VerifiedAccessToken> {
    if (revocations === undefined) return claims;
    const catchingUp = revocations.settling();
    if (catchingUp !== undefined) await catchingUp;
    if (!revocations.ready) throw new TemporarilyUnavailable(NOT_READY);
    if (revocations.revoked(claims.sid)) throw new InvalidToken(REVOKED);
    return claims;
  }

  /** As jose decides: refused from the `exp` second on, give or take the tolerance. */
  function expired(claims: VerifiedAccessToken): boolean {
    return claims.exp <= epochSeconds(clock.now()) - clockToleranceS;
  }

  async function verify(token: string): Promise<VerifiedAccessToken> {
    if (token.length > MAX_TOKEN_LENGTH)
      throw new InvalidToken('The access token is too long to be one of ours.');
    const cached = verified.get(token);
    if (cached !== undefined) {
      if (expired(cached)) {
        verified.delete(token);
        throw new InvalidToken(EXPIRED);
      }
      return admit(cached);
    }
    let result: JWTVerifyResult<JWTPayload>;
    try {
      result = await jwtVerify(
        token,
        (header) => {
          for (const name of FOREIGN_KEY_HEADERS) {
            if (name in header)
              throw new InvalidToken(
                `The access token names a key by "${name}", which this service never trusts.`,
              );
          }
          const entry = typeof header.kid === 'string' ? keys.verifying.get(header.kid) : undefined;
          if (!entry)
            throw new InvalidToken('The access token was not signed by a key of this service (unknown kid).');
          if (entry.alg !== header.alg)
            throw new InvalidToken('The access token uses an algorithm its key does not allow.');
          return entry.key;
        },
        {
          algorithms: keys.algorithms,
          issuer,
          audience: accepted,
          typ: TYP,
          requiredClaims: ['exp', 'iat', 'sub', 'jti'],
          currentDate: new Date(clock.now()),
          clockTolerance: clockToleranceS,
        },
      );
    } catch (error) {
      throw toInvalidToken(error);
    }
    const { sub, exp, iat, jti, nbf, sid, client_id, unionid } = result.payload;
    if (
      typeof sub !== 'string' ||
      typeof jti !== 'string' ||
      typeof exp !== 'number' ||
      typeof iat !== 'number'
    ) {
      throw new InvalidToken('The access token lacks sub, jti, exp or iat.');
    }
    // Not required: during the rolling restart that brings sid, instances not yet restarted issue none.
    if (sid !== undefined && typeof sid !== 'string')
      throw new InvalidToken('The access token\'s "sid" claim is not a string.');
    // Not required either: tokens issued before client_id existed stay valid until they expire.
    if (client_id !== undefined && typeof client_id !== 'string')
      throw new InvalidToken('The access token\'s "client_id" claim is not a string.');
    if (unionid !== undefined && typeof unionid !== 'string')
      throw new InvalidToken('The access token\'s "unionid" claim is not a string.');
    const claims: VerifiedAccessToken = Object.freeze({
      sub,
      sid,
      clientId: client_id,
      unionid: unionid as string | undefined,
      exp,
      iat,
      jti,
    });
    // A hit checks only `exp`; we never issue `nbf`, so a token carrying one is checked in full each time.
    if (nbf === undefined) verified.set(token, claims);
    return admit(claims);
  }

  return { issue, verify, recall };
}

/** jose errors are told apart by `code`, never by message text. */
function toInvalidToken(error: unknown): InvalidToken {
  if (error instanceof InvalidToken) return error;
  if (!(error instanceof joseErrors.JOSEError))
    return new InvalidToken('The access token is malformed.', { cause: error });
  switch (error.code) {
    case 'ERR_JWT_EXPIRED':
      return new InvalidToken(EXPIRED);
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const claim = (error as joseErrors.JWTClaimValidationFailed).claim;
      return new InvalidToken(`The access token's "${claim}" claim is missing or not accepted here.`);
    }
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return new InvalidToken('The access token signature does not verify.');
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return new InvalidToken('The access token is signed with an algorithm this service does not accept.');
    default:
      return new InvalidToken('The access token is malformed.');
  }
}
