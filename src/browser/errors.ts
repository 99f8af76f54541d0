/** The service's error codes, which the SDK passes on as `AuthError.code`, and the SDK's own. */
export type WebAuthErrorCode =
  | 'invalid_request'
  | 'invalid_grant'
  | 'invalid_token'
  | 'access_denied'
  | 'rate_limited'
  | 'upstream_unavailable'
  | 'temporarily_unavailable'
  | 'server_error'
  /** fetch() failed: no connection, DNS, TLS, CORS. */
  | 'network_error'
  /** No session: start a web login first. */
  | 'login_required'
  /** The service answered what its contract does not say (a proxy's error page…). */
  | 'invalid_response'
  /** handleRedirectCallback(): a state this tab did not start, already used, or too old. */
  | 'invalid_state'
  /** handleRedirectCallback(): the ID token's iss, aud, exp or nonce is not what this client expects. */
  | 'invalid_id_token'
  /** handleRedirectCallback(): the client_id is no official account or website app of the service. */
  | 'invalid_client'
  /** handleRedirectCallback(): the service refused the authorization request's parameters. */
  | 'unsupported_response_type';

/** Every error the SDK throws: `code` says what happened, `message` what to do. */
export class AuthError extends Error {
  readonly code: WebAuthErrorCode | (string & Record<never, never>);
  readonly status?: number;
  /** Seconds to wait before trying again (Retry-After of a 429 or 503). */
  readonly retryAfter?: number;

  constructor(
    code: WebAuthErrorCode | (string & Record<never, never>),
    message: string,
    details: { status?: number; retryAfter?: number; cause?: unknown } = {},
  ) {
    super(message);
    this.name = 'AuthError';
    this.code = code;
    if (details.status !== undefined) this.status = details.status;
    if (details.retryAfter !== undefined) this.retryAfter = details.retryAfter;
    if (details.cause !== undefined) (this as { cause?: unknown }).cause = details.cause;
  }
}
