/** Every failure of a verifier: `code` is wxauth's contract code, `status` the HTTP status to answer. */
export class VerifierError extends Error {
  readonly code: 'invalid_token' | 'temporarily_unavailable';
  readonly status: 401 | 503;

  constructor(
    code: VerifierError['code'],
    status: VerifierError['status'],
    message: string,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = new.target.name;
    this.code = code;
    this.status = status;
  }
}

/**
 * The token is missing, malformed, forged, expired, or of another issuer, audience, typ or algorithm:
 * answer 401 (RFC 6750). The client should refresh it.
 */
export class InvalidTokenError extends VerifierError {
  /** No token was sent at all: the challenge then carries no `error` (RFC 6750 §3.1). */
  readonly missing: boolean;

  constructor(message: string, options: { missing?: boolean; cause?: unknown } = {}) {
    super('invalid_token', 401, message, options.cause);
    this.missing = options.missing ?? false;
  }
}

/**
 * The keys could not be had (discovery or the JWKS unreachable, or answering something that is not
 * one), and none cached could verify the token: answer 503, the token may well be valid.
 */
export class JwksUnavailableError extends VerifierError {
  /** Seconds after which a new fetch may be tried. */
  readonly retryAfter: number;

  constructor(message: string, retryAfter: number, cause?: unknown) {
    super('temporarily_unavailable', 503, message, cause);
    this.retryAfter = retryAfter;
  }
}
