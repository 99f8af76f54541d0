/** The service's error codes (its HTTP reference and OpenAPI document), which the client passes on as `AuthError.code`. */
export type ServiceErrorCode =
  | 'invalid_request'
  | 'invalid_grant'
  | 'invalid_client'
  | 'unsupported_grant_type'
  | 'invalid_token'
  | 'decrypt_failed'
  | 'invalid_open_data'
  | 'invalid_signature'
  | 'login_required'
  | 'access_denied'
  | 'not_found'
  | 'rate_limited'
  | 'upstream_unavailable'
  | 'temporarily_unavailable'
  | 'server_error';

/** Codes of the client's own. */
export type ClientErrorCode =
  /** `wx.request` failed: no connection, DNS, TLS, timeout, abort. See NetworkError. */
  | 'network_error'
  /** `wx.login()` failed or gave no code. */
  | 'wx_login_failed'
  /** The user declined the button (its e.detail.errMsg is not `…:ok`). See UserDeniedError. */
  | 'user_denied'
  /** The service answered something that is not what its contract says (a proxy's error page…). */
  | 'invalid_response';

export type AuthErrorCode = ServiceErrorCode | ClientErrorCode;

export interface AuthErrorDetails {
  /** HTTP status, when the service answered. */
  status?: number;
  /** WeChat's errcode behind the error, when the service gave one (`wechat_errcode`). */
  wechatErrcode?: number;
  /** Seconds to wait before trying again (the `Retry-After` header of a 429 or 503). */
  retryAfter?: number;
  cause?: unknown;
}

/**
 * Every error the client throws is an AuthError: `code` says what happened (a code of the service's
 * contract or of the client), `message` what to do. Subclasses mark the cases a page handles itself.
 */
export class AuthError extends Error {
  readonly code: AuthErrorCode | (string & Record<never, never>);
  readonly status?: number;
  readonly wechatErrcode?: number;
  readonly retryAfter?: number;

  constructor(
    code: AuthErrorCode | (string & Record<never, never>),
    message: string,
    details: AuthErrorDetails = {},
  ) {
    super(message);
    this.name = 'AuthError';
    this.code = code;
    if (details.status !== undefined) this.status = details.status;
    if (details.wechatErrcode !== undefined) this.wechatErrcode = details.wechatErrcode;
    if (details.retryAfter !== undefined) this.retryAfter = details.retryAfter;
    if (details.cause !== undefined) (this as { cause?: unknown }).cause = details.cause;
  }
}

/** `wx.request` failed before any HTTP answer. Nothing was retried; the stored session is kept. */
export class NetworkError extends AuthError {
  /** WeChat's errMsg, e.g. `request:fail timeout`. */
  readonly errMsg: string;
  readonly errno?: number;

  constructor(url: string, errMsg: string, errno?: number) {
    super('network_error', `${errMsg} (${url})`);
    this.name = 'NetworkError';
    this.errMsg = errMsg;
    if (errno !== undefined) this.errno = errno;
  }
}

/**
 * The button's data could not be decrypted with the session_key the service holds (WeChat rotated it,
 * or the service had none). The client has already logged in again, so the key is fresh now:
 * ask the user to tap the button again, and send the new e.detail.
 */
export class DecryptFailedError extends AuthError {
  readonly askAgain = true;

  constructor(message: string, details: AuthErrorDetails = {}) {
    super('decrypt_failed', message, details);
    this.name = 'DecryptFailedError';
  }
}

/** The user declined the button, or WeChat refused it (e.detail.errMsg); nothing was sent. */
export class UserDeniedError extends AuthError {
  readonly errMsg: string;

  constructor(errMsg: string) {
    super('user_denied', `The user did not allow it: ${errMsg}`);
    this.name = 'UserDeniedError';
    this.errMsg = errMsg;
  }
}
