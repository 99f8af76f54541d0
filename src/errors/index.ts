/**
 * The contract's error codes (the README's error table and the OpenAPI document), in the contract's order. Every error a client
 * sees is one of these; the error middleware is the only place that turns them into bodies.
 */
export const ERROR_CODES = [
  'invalid_request',
  'invalid_grant',
  'invalid_token',
  'decrypt_failed',
  'invalid_open_data',
  'invalid_signature',
  'login_required',
  'access_denied',
  'rate_limited',
  'upstream_unavailable',
  'temporarily_unavailable',
  'server_error',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface AppErrorOptions {
  cause?: unknown;
  /** WeChat's errcode, echoed to the client as `wechat_errcode`. */
  wechatErrcode?: number;
  /** Seconds, sent as `Retry-After`. */
  retryAfter?: number;
  headers?: Record<string, string>;
}

export class AppError extends Error {
  readonly status: number;
  readonly error: ErrorCode;
  /** false: the description is replaced by a generic one and the cause only logged. */
  readonly expose: boolean;
  readonly wechatErrcode: number | undefined;
  readonly retryAfter: number | undefined;
  readonly headers: Record<string, string>;

  constructor(status: number, error: ErrorCode, description: string, options: AppErrorOptions = {}) {
    super(description, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.status = status;
    this.error = error;
    this.expose = status < 500 || error !== 'server_error';
    this.wechatErrcode = options.wechatErrcode;
    this.retryAfter = options.retryAfter;
    this.headers = options.headers ?? {};
  }
}

export class InvalidRequest extends AppError {
  constructor(description: string, options?: AppErrorOptions) {
    super(400, 'invalid_request', description, options);
  }
}

export class PayloadTooLarge extends AppError {
  constructor(limitBytes: number) {
    super(413, 'invalid_request', `The request body is larger than the limit of ${limitBytes} bytes.`);
  }
}

export class InvalidGrant extends AppError {
  constructor(description: string, options?: AppErrorOptions) {
    super(400, 'invalid_grant', description, options);
  }
}

/**
 * RFC 6750 §3.1: `missing` means no credentials were sent at all, which is answered without an
 * `error` attribute in WWW-Authenticate.
 */
export class InvalidToken extends AppError {
  readonly missing: boolean;
  constructor(description: string, options: AppErrorOptions & { missing?: boolean } = {}) {
    super(401, 'invalid_token', description, options);
    this.missing = options.missing ?? false;
  }
}

export class DecryptFailed extends AppError {
  constructor(description: string, options?: AppErrorOptions) {
    super(400, 'decrypt_failed', description, options);
  }
}

export class InvalidOpenData extends AppError {
  constructor(description: string, options?: AppErrorOptions) {
    super(400, 'invalid_open_data', description, options);
  }
}

export class InvalidSignature extends AppError {
  constructor(description: string, options?: AppErrorOptions) {
    super(400, 'invalid_signature', description, options);
  }
}

export class LoginRequired extends AppError {
  constructor(description: string, options?: AppErrorOptions) {
    super(401, 'login_required', description, options);
  }
}

export class AccessDenied extends AppError {
  constructor(description: string, options?: AppErrorOptions) {
    super(403, 'access_denied', description, options);
  }
}

export class RateLimited extends AppError {
  constructor(description: string, options?: AppErrorOptions) {
    super(429, 'rate_limited', description, { retryAfter: 1, ...options });
  }
}

/** 502 for a failing WeChat, 504 when it did not answer in time. */
export class UpstreamUnavailable extends AppError {
  constructor(description: string, options: AppErrorOptions & { timeout?: boolean } = {}) {
    super(options.timeout ? 504 : 502, 'upstream_unavailable', description, options);
  }
}

export class TemporarilyUnavailable extends AppError {
  constructor(description: string, options?: AppErrorOptions) {
    super(503, 'temporarily_unavailable', description, { retryAfter: 1, ...options });
  }
}

export class ServerError extends AppError {
  constructor(description = 'The service failed to handle the request.', options?: AppErrorOptions) {
    super(500, 'server_error', description, options);
  }
}
