/** Requests with the access token: only to baseUrl, and renewed and retried once when refused. */
import { errorCodeOf, headerOf, serviceError } from './calls.js';
import { ASK_AGAIN, type LoggingIn, type Renewal, type Renewals } from './renewal.js';
import type { StoredSession } from './storage.js';
import type { AuthRequestOptions, AuthResponse } from './types.js';
import { type BaseUrl, isUnderBase, resolveUrl } from './url.js';
import { type WxApi, type WxRequest, type WxResponse, wxRequest } from './wx.js';

export type Requests = ReturnType<typeof createRequests>;

export function createRequests(parts: { api: WxApi; base: BaseUrl; renewal: Renewals }) {
  const { api, base, renewal } = parts;

  function withToken(request: WxRequest, session: StoredSession): WxRequest {
    if (!isUnderBase(base, request.url)) throw new TypeError('The access token goes only to the service.');
    const header: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.header ?? {})) {
      if (name.toLowerCase() !== 'authorization') header[name] = value;
    }
    header.Authorization = `Bearer ${session.accessToken}`;
    return { ...request, header };
  }

  /**
   * Sends with the access token; on a refused token renews once and sends once more. Null when the
   * mode gave up for want of a session (never-login). A second refusal is thrown: no loops.
   */
  function authorized(build: (session: StoredSession) => WxRequest, mode: LoggingIn): Promise<WxResponse>;
  function authorized(
    build: (session: StoredSession) => WxRequest,
    mode: 'never-login',
  ): Promise<WxResponse | null>;
  async function authorized(
    build: (session: StoredSession) => WxRequest,
    mode: Renewal,
  ): Promise<WxResponse | null> {
    let session = await renewal.sessionFor(mode);
    if (session === null) return null;
    const first = await wxRequest(api, withToken(build(session), session));
    const refused = refusalOf(first);
    if (refused === undefined) return first;
    if (refused === 'login_required') {
      // The service holds no session_key: only a login helps, and open data sent before it cannot.
      if (mode === 'open-data') return renewal.askAgain(ASK_AGAIN, serviceError(first, 'The service'));
      if (mode === 'never-login') return first;
      session = (await renewal.login()).session;
    } else {
      session = await renewal.renew(session, mode);
      if (session === null) return null;
    }
    const second = await wxRequest(api, withToken(build(session), session));
    if (refusalOf(second) !== undefined) throw serviceError(second, `${build(session).url}, after a renewal`);
    return second;
  }

  /** AuthClient.request: the token only under baseUrl, anything else sent as it is. */
  async function request<T>(options: AuthRequestOptions): Promise<AuthResponse<T>> {
    const url = resolveUrl(base, options.url);
    if (!isUnderBase(base, url)) return (await wxRequest(api, { ...options, url })) as AuthResponse<T>;
    return (await authorized(() => ({ ...options, url }), 'may-login')) as AuthResponse<T>;
  }

  return { authorized, request };
}

/** 401s the client can repair: a refused access token, or no session_key at the service. */
function refusalOf(response: WxResponse): 'invalid_token' | 'login_required' | undefined {
  if (response.statusCode !== 401) return undefined;
  const code = errorCodeOf(response);
  if (code === 'invalid_token' || code === 'login_required') return code;
  // Another API under baseUrl that verifies the same tokens may answer with the RFC 6750 header only.
  return /invalid_token/.test(headerOf(response, 'www-authenticate') ?? '') ? 'invalid_token' : undefined;
}
