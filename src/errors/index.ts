import { z } from 'zod';

/**
 * The contract's error codes (the error table of docs/http-reference.md and the OpenAPI document), in the contract's order. Every error a client
 * sees is one of these; the error middleware is the only place that turns them into bodies.
 */
export const ERROR_CODES = [
  'invalid_request',
  'invalid_grant',
  'invalid_client',
  'unsupported_grant_type',
  'invalid_token',
  'decrypt_failed',
  'invalid_open_data',
  'invalid_signature',
  'login_required',
  'access_denied',
  'not_found',
  'rate_limited',
  'upstream_unavailable',
  'temporarily_unavailable',
  'server_error',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** An error's body, as the error middleware writes it: its type and, through z.toJSONSchema, the document's Error. */
export const ErrorBody = z.object({
  error: z.enum(ERROR_CODES),
  error_description: z.string(),
  wechat_errcode: z.int().optional().meta({ description: "WeChat's errcode, when it caused the error." }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

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

/**
 * The class of a contract error with a fixed status and code: `class X extends contractError(400,
 * 'invalid_request') {}`. `defaults` are options every instance starts from (e.g. a Retry-After).
 */
function contractError(status: number, code: ErrorCode, defaults: AppErrorOptions = {}) {
  return class extends AppError {
    constructor(description: string, options?: AppErrorOptions) {
      super(status, code, description, { ...defaults, ...options });
    }
  };
}

export class InvalidRequest extends contractError(400, 'invalid_request') {}

export class PayloadTooLarge extends AppError {
  constructor(limitBytes: number) {
    super(413, 'invalid_request', `The request body is larger than the limit of ${limitBytes} bytes.`);
  }
}

export class InvalidGrant extends contractError(400, 'invalid_grant') {}

/**
 * RFC 6749 §5.2 at POST /oauth/token: a client_id that is no browser app of this service. 401, as §5.2
 * allows; no WWW-Authenticate, since the clients are public and authenticate with nothing.
 */
export class InvalidClient extends contractError(401, 'invalid_client') {}

/** RFC 6749 §5.2 at POST /oauth/token: a grant_type other than authorization_code and refresh_token. */
export class UnsupportedGrantType extends contractError(400, 'unsupported_grant_type') {}

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

export class DecryptFailed extends contractError(400, 'decrypt_failed') {}

export class InvalidOpenData extends contractError(400, 'invalid_open_data') {}

export class InvalidSignature extends contractError(400, 'invalid_signature') {}

export class LoginRequired extends contractError(401, 'login_required') {}

export class AccessDenied extends contractError(403, 'access_denied') {}

/** An admin route naming a user this service does not know. */
export class NotFound extends contractError(404, 'not_found') {}

export class RateLimited extends contractError(429, 'rate_limited', { retryAfter: 1 }) {}

/** 502 for a failing WeChat, 504 when it did not answer in time. */
export class UpstreamUnavailable extends AppError {
  constructor(description: string, options: AppErrorOptions & { timeout?: boolean } = {}) {
    super(options.timeout ? 504 : 502, 'upstream_unavailable', description, options);
  }
}

export class TemporarilyUnavailable extends contractError(503, 'temporarily_unavailable', {
  retryAfter: 1,
}) {}

export class ServerError extends AppError {
  constructor(description = 'The service failed to handle the request.', options?: AppErrorOptions) {
    super(500, 'server_error', description, options);
  }
}
