/** The client's own calls to the service, and reading the service's answers. */
import { AuthError } from './errors.js';
import type { BaseUrl } from './url.js';
import type { WxRequest, WxResponse } from './wx.js';

export interface Calls {
  call(method: 'GET' | 'DELETE', path: string): WxRequest;
  post(path: string, data: Record<string, unknown>): WxRequest;
}

/** Requests to paths under baseUrl, with the client's timeout. */
export function serviceCalls(base: BaseUrl, timeout: number | undefined): Calls {
  return {
    call(method, path) {
      return { url: base.href + path, method, ...(timeout === undefined ? {} : { timeout }) };
    },
    post(path, data) {
      return {
        url: base.href + path,
        method: 'POST',
        data,
        header: { 'content-type': 'application/json' },
        ...(timeout === undefined ? {} : { timeout }),
      };
    },
  };
}

export function objectOf(data: unknown): Record<string, unknown> | undefined {
  let value = data;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

export function errorCodeOf(response: WxResponse): string | undefined {
  const error = objectOf(response.data)?.error;
  return typeof error === 'string' ? error : undefined;
}

export function headerOf(response: WxResponse, name: string): string | undefined {
  for (const [key, value] of Object.entries(response.header ?? {})) {
    if (key.toLowerCase() === name) return String(value);
  }
  return undefined;
}

/** The service's `{error, error_description}` as an AuthError. */
export function serviceError(response: WxResponse, what: string): AuthError {
  const body = objectOf(response.data);
  const retryAfterHeader = Number(headerOf(response, 'retry-after'));
  const details = {
    status: response.statusCode,
    ...(Number.isFinite(retryAfterHeader) && retryAfterHeader >= 0 ? { retryAfter: retryAfterHeader } : {}),
    ...(typeof body?.wechat_errcode === 'number' ? { wechatErrcode: body.wechat_errcode } : {}),
  };
  if (typeof body?.error === 'string') {
    const description =
      typeof body.error_description === 'string'
        ? body.error_description
        : `${what} answered HTTP ${response.statusCode} ${body.error}.`;
    return new AuthError(body.error, description, details);
  }
  return new AuthError(
    'invalid_response',
    `${what} answered HTTP ${response.statusCode} without an error body of the service.`,
    details,
  );
}
