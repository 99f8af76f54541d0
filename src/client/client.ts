/// <reference types="miniprogram-api-typings" preserve="true" />
import { AuthError, DecryptFailedError, UserDeniedError } from './errors.js';
import { singleFlight } from './single-flight.js';
import { SessionStorage, type StoredSession } from './storage.js';
import { isUnderBase, parseBaseUrl, resolveUrl } from './url.js';
import {
  globalWx,
  type WxApi,
  type WxRequest,
  type WxResponse,
  wxCheckSession,
  wxDevice,
  wxLogin,
  wxRequest,
} from './wx.js';

export const DEFAULT_STORAGE_KEY = 'wxauth:session';

export interface AuthClientOptions {
  /**
   * The service's base URL, e.g. `https://api.example.com` or `https://example.com/wxauth`: its
   * `/auth/*` and `/wechat/*` routes are under it, and only requests under it carry the access token.
   */
  baseUrl: string;
  /** Default: the mini-program's global `wx`. */
  wx?: WxApi;
  /** The `wx.setStorageSync` key of the session. Default `wxauth:session`. */
  storageKey?: string;
  /** Epoch milliseconds. Default `Date.now`. */
  clock?: { now(): number };
  /**
   * Refresh this many seconds before the access token expires, rather than wait for a 401 (at most
   * half its lifetime). Default 60.
   */
  refreshBeforeExpirySeconds?: number;
  /** `wx.request` timeout of the client's own calls, milliseconds. Default: WeChat's (60 s or app.json's). */
  timeout?: number;
  /**
   * What the user's list of sessions says this login is (at most 64 printable characters). Default:
   * the phone's brand, model, system and WeChat version (`wx.getDeviceInfo()`); false: send none.
   */
  device?: string | false;
}

/** Who is logged in (the tokens stay inside the client). */
export interface AuthSession {
  openid: string;
  unionid?: string;
}

export interface LoginResult extends AuthSession {
  /** True on this user's first login ever. */
  isNewUser: boolean;
}

/** One session (login) of the user, as `sessions()` lists them. Times are epoch milliseconds. */
export interface SessionEntry {
  /** What `endSession()` takes. */
  id: string;
  /** null for a session older than the service's record of it. */
  createdAt: number | null;
  refreshedAt: number | null;
  expiresAt: number;
  /** What the login said about its phone, e.g. `iPhone 15 Pro; iOS 17.4; WeChat 8.0.47`. */
  device: string | null;
  /** The session of this client. */
  current: boolean;
}

/**
 * A website's request to log in as this user, as the confirm screen of `scanWebLogin()` shows it. Show
 * when and from where: a code relayed from a phishing page shows a stranger's address and browser.
 */
export interface WebLoginRequest {
  /** What `confirmWebLogin()` and `cancelWebLogin()` take. */
  ticket: string;
  /** When the website asked for the code, and when it stops working: epoch milliseconds. */
  createdAt: number;
  expiresAt: number;
  /** The address and User-Agent of the browser that shows the code. */
  address: string;
  userAgent: string;
  /** The browser in a few words, as the list of sessions will show it: `Web · Chrome 120 on Windows`. */
  device: string;
}

export interface PhoneNumber {
  phoneNumber: string;
  purePhoneNumber: string;
  countryCode: string;
}

/** The `e.detail` of `<button open-type="getPhoneNumber">`: a `code`, and on older clients `encryptedData`/`iv`. */
export type PhoneNumberDetail = Partial<WechatMiniprogram.ButtonGetPhoneNumber['detail']>;

/** The result of `wx.getUserProfile()` (or a getUserInfo button's `e.detail`). */
export type UserInfoDetail = Partial<
  Pick<
    WechatMiniprogram.GetUserProfileSuccessCallbackResult,
    'encryptedData' | 'iv' | 'rawData' | 'signature'
  >
> & { errMsg?: string };

/** Any encrypted open data: `wx.getWeRunData()`, `wx.getShareInfo()`, a button's `e.detail`. */
export type OpenDataDetail = Partial<
  Pick<WechatMiniprogram.GetWeRunDataSuccessCallbackResult, 'encryptedData' | 'iv'>
> & { errMsg?: string };

/** `wx.request`'s options, promise-style: a path starting with '/' is taken under baseUrl. */
export type AuthRequestOptions = WxRequest;
export type AuthResponse<T = unknown> = WxResponse<T>;

export interface AuthClient {
  /** The service's base URL, without a trailing slash. */
  readonly baseUrl: string;
  /**
   * For a page to call when it loads, before it shows a getPhoneNumber or profile button: logs in when
   * there is no session, or when `wx.checkSession()` says WeChat's session expired, so the service
   * holds the session_key that WeChat will encrypt the button's data with.
   */
  ensureSession(): Promise<AuthSession>;
  /** `wx.login()` and `POST /auth/login`: a new session (concurrent calls share one login). */
  login(): Promise<LoginResult>;
  /**
   * `wx.request` with the access token attached when the URL is under baseUrl (never otherwise).
   * Logs in when there is no session, refreshes an expiring or refused token once (one refresh shared
   * by every concurrent request) and logs in again once if the refresh token is refused; a refresh
   * answered 429 waits its Retry-After (at most 60 s) and is tried once more. Resolves
   * with every HTTP answer, as `wx.request` does; rejects with NetworkError, or with AuthError when
   * the service still refuses the token after that one renewal.
   */
  request<T = unknown>(options: AuthRequestOptions): Promise<AuthResponse<T>>;
  /**
   * Ends this session (or, with `all`, every session of the user) at the service and forgets it here.
   * The local session is forgotten even when the call fails (a NetworkError then means the service
   * was not told).
   */
  logout(options?: { all?: boolean }): Promise<void>;
  /** The user's sessions at the service, newest first (none when logged out here: no login is made for it). */
  sessions(): Promise<SessionEntry[]>;
  /**
   * Ends one session of the user (a phone in the list of sessions), immediately: its access token is
   * refused from then on. Ending this client's own session forgets it here too.
   */
  endSession(id: string): Promise<void>;
  /**
   * Deletes the user's account at the service (注销): every session, the stored session_key, everything
   * kept about the user; then forgets the session here. Rejects, keeping the session, when the service
   * could not be told.
   */
  deleteAccount(): Promise<void>;
  /**
   * The phone number from a getPhoneNumber button's `e.detail` (its `code`, or the legacy
   * `encryptedData`/`iv`). Rejects with UserDeniedError when the user declined, and with
   * DecryptFailedError when the legacy data could not be decrypted: ask again.
   */
  getPhoneNumber(detail: PhoneNumberDetail): Promise<PhoneNumber>;
  /** The decrypted user info of `wx.getUserProfile()`; rawData's signature is checked when present. */
  userInfo<T = Record<string, unknown>>(detail: UserInfoDetail): Promise<T>;
  /** Any decrypted open data (WeRun, share info…), watermark removed. */
  decrypt<T = Record<string, unknown>>(detail: OpenDataDetail): Promise<T>;
  /**
   * The page a web login's mini-program code opens (the service's QR_LOGIN_PAGE), on load: takes its
   * `options.scene` as WeChat hands it (URI-encoded) and tells the service this user scanned it; logs
   * in first when needed. Resolves with what to show on the confirm screen. Rejects with `invalid_grant`
   * when the code expired, was used or canceled, or another user scanned it (the website shows a new
   * code on refresh), and with `invalid_request`, sending nothing, for a scene that is not a web login's.
   */
  scanWebLogin(scene: string): Promise<WebLoginRequest>;
  /** The user confirmed: the website that shows the code is logged in as them. */
  confirmWebLogin(ticket: string): Promise<void>;
  /** The user declined: the website is told. */
  cancelWebLogin(ticket: string): Promise<void>;
  /** The stored session, without any call; null when logged out. */
  session(): AuthSession | null;
}

/**
 * How far a renewal may go when the access token is missing, expiring or refused:
 * - may-login: refresh, else wx.login() and a new session;
 * - open-data: refresh, else log in to repair the session but send nothing (the button's data was
 *   encrypted with the session_key before that login: it is DecryptFailedError, ask again);
 * - never-login: refresh, else give up quietly (logout has nothing left to end).
 */
type Renewal = 'may-login' | 'open-data' | 'never-login';

const ASK_AGAIN =
  'The service could not decrypt the data with the session_key it holds (WeChat rotated it, or the session ended). A new login was made: ask the user again and send the new e.detail.';
const ASK_AGAIN_UNSENT =
  'The session had ended, and the login that renews it may change the session_key the data was encrypted with, so the data was not sent. A new login was made: ask the user again and send the new e.detail.';

export function createAuthClient(options: AuthClientOptions): AuthClient {
  const base = parseBaseUrl(options.baseUrl);
  const api: WxApi = options.wx ?? noGlobalWx();
  const storage = new SessionStorage(api, options.storageKey ?? DEFAULT_STORAGE_KEY);
  const clock = options.clock ?? { now: () => Date.now() };
  const leewayMs = Math.max(0, options.refreshBeforeExpirySeconds ?? 60) * 1000;
  const timeout = options.timeout;
  let device: string | undefined;
  let deviceKnown = false;
  /** The id of this client's session, as the last list of sessions said. */
  let currentSessionId: string | undefined;

  /** Asked of wx once, on the first login. */
  function deviceOf(): string | undefined {
    if (!deviceKnown) {
      device = options.device === false ? undefined : (options.device ?? wxDevice(api));
      deviceKnown = true;
    }
    return device;
  }

  function call(method: 'GET' | 'DELETE', path: string): WxRequest {
    return { url: base.href + path, method, ...(timeout === undefined ? {} : { timeout }) };
  }

  function post(path: string, data: Record<string, unknown>): WxRequest {
    return {
      url: base.href + path,
      method: 'POST',
      data,
      header: { 'content-type': 'application/json' },
      ...(timeout === undefined ? {} : { timeout }),
    };
  }

  /** Stores a token response; times count from when the request was sent. */
  function keep(response: WxResponse, sentAt: number, what: string): StoredSession {
    const body = objectOf(response.data);
    if (
      body === undefined ||
      typeof body.access_token !== 'string' ||
      typeof body.refresh_token !== 'string' ||
      typeof body.openid !== 'string' ||
      typeof body.expires_in !== 'number' ||
      typeof body.refresh_expires_in !== 'number'
    ) {
      throw new AuthError('invalid_response', `${what} answered 200 without a token response.`, {
        status: response.statusCode,
      });
    }
    const lifetimeMs = body.expires_in * 1000;
    const session: StoredSession = {
      v: 1,
      accessToken: body.access_token,
      refreshToken: body.refresh_token,
      openid: body.openid,
      ...(typeof body.unionid === 'string' ? { unionid: body.unionid } : {}),
      accessExpiresAt: sentAt + lifetimeMs,
      refreshAt: sentAt + Math.max(lifetimeMs - leewayMs, lifetimeMs / 2),
      refreshExpiresAt: sentAt + body.refresh_expires_in * 1000,
    };
    storage.save(session);
    return session;
  }

  const loginOnce = singleFlight(async (): Promise<{ session: StoredSession; isNewUser: boolean }> => {
    const code = await wxLogin(api);
    const sentAt = clock.now();
    const phone = deviceOf();
    let response = await wxRequest(
      api,
      post('/auth/login', phone === undefined ? { code } : { code, device: phone }),
    );
    if (phone !== undefined && refusedDevice(response)) {
      // A device the service will not take must not cost the login: the code was not used, send it alone.
      device = undefined;
      response = await wxRequest(api, post('/auth/login', { code }));
    }
    if (response.statusCode !== 200) throw serviceError(response, 'POST /auth/login');
    const session = keep(response, sentAt, 'POST /auth/login');
    return { session, isNewUser: objectOf(response.data)?.is_new_user === true };
  });

  /**
   * One refresh at a time; null when the service refused the refresh token (the session is over).
   * A 429 is waited out once (Retry-After, at most RATE_LIMIT_WAIT_MAX_S): the service refused before
   * looking at the token, which is still good. A second 429 rejects that call and keeps the session.
   */
  const refreshOnce = singleFlight(async (): Promise<StoredSession | null> => {
    let current = storage.load();
    for (let attempt = 1; current !== null; attempt++) {
      if (clock.now() >= current.refreshExpiresAt) {
        storage.clear();
        return null;
      }
      const sentAt = clock.now();
      const response = await wxRequest(api, post('/auth/refresh', { refresh_token: current.refreshToken }));
      if (response.statusCode === 200) return keep(response, sentAt, 'POST /auth/refresh');
      if (response.statusCode === 400 && errorCodeOf(response) === 'invalid_grant') {
        if (storage.load()?.refreshToken === current.refreshToken) storage.clear();
        return null;
      }
      if (attempt > 1 || response.statusCode !== 429 || errorCodeOf(response) !== 'rate_limited') {
        throw serviceError(response, 'POST /auth/refresh');
      }
      await sleep(rateLimitWaitMs(response));
      const stored = storage.load();
      // A login while this one waited: its session is newer than anything this refresh would bring.
      if (stored !== null && stored.refreshToken !== current.refreshToken) return stored;
      current = stored;
    }
    return null;
  });

  /** The session to send with: the stored one while fresh, else renewed. */
  async function sessionFor(mode: Renewal): Promise<StoredSession | null> {
    const current = storage.load();
    if (current !== null && clock.now() < current.refreshAt) return current;
    return renew(current, mode);
  }

  /** A session newer than `stale` (expiring, or refused by the service). */
  async function renew(stale: StoredSession | null, mode: Renewal): Promise<StoredSession | null> {
    const current = storage.load();
    // Another request renewed it while this one waited: use theirs.
    if (current !== null && current.accessToken !== stale?.accessToken && clock.now() < current.refreshAt) {
      return current;
    }
    if (current !== null) {
      const refreshed = await refreshOnce();
      if (refreshed !== null) return refreshed;
    }
    // The refresh token was refused and forgotten: what is stored now, if anything, is a newer login.
    const after = storage.load();
    if (after !== null) return after;
    if (mode === 'never-login') return null;
    if (mode === 'open-data') return askAgain(ASK_AGAIN_UNSENT);
    return (await loginOnce()).session;
  }

  /** Logs in again (the service then holds the current session_key) and tells the caller to ask again. */
  async function askAgain(message: string, cause?: AuthError): Promise<never> {
    try {
      await loginOnce();
    } catch (error) {
      throw new DecryptFailedError(`${message} (The new login failed too; it is retried on the next call.)`, {
        cause: error,
      });
    }
    throw new DecryptFailedError(
      message,
      cause?.status === undefined ? { cause } : { status: cause.status, cause },
    );
  }

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
  async function authorized(
    build: (session: StoredSession) => WxRequest,
    mode: Renewal,
  ): Promise<WxResponse | null> {
    let session = await sessionFor(mode);
    if (session === null) return null;
    const first = await wxRequest(api, withToken(build(session), session));
    const refused = refusalOf(first);
    if (refused === undefined) return first;
    if (refused === 'login_required') {
      // The service holds no session_key: only a login helps, and open data sent before it cannot.
      if (mode === 'open-data') return askAgain(ASK_AGAIN, serviceError(first, 'The service'));
      if (mode === 'never-login') return first;
      session = (await loginOnce()).session;
    } else {
      session = await renew(session, mode);
      if (session === null) return null;
    }
    const second = await wxRequest(api, withToken(build(session), session));
    if (refusalOf(second) !== undefined) throw serviceError(second, `${build(session).url}, after a renewal`);
    return second;
  }

  /** Posts open data; the button's data is never sent after a wx.login() made since it was encrypted. */
  async function openData(path: string, body: Record<string, unknown>): Promise<unknown> {
    const response = await authorized(() => post(path, body), 'open-data');
    if (response === null) throw new Error('unreachable: open-data renewals never give up quietly');
    if (response.statusCode === 200) return response.data;
    const error = serviceError(response, `POST ${path}`);
    if (error.code === 'decrypt_failed' || error.code === 'login_required') return askAgain(ASK_AGAIN, error);
    throw error;
  }

  function sealed(detail: OpenDataDetail, what: string): { encryptedData: string; iv: string } {
    refuseDeclined(detail);
    const { encryptedData, iv } = detail;
    if (typeof encryptedData !== 'string' || encryptedData === '' || typeof iv !== 'string' || iv === '') {
      throw new AuthError('invalid_request', `Pass ${what} as it is: it needs encryptedData and iv.`);
    }
    return { encryptedData, iv };
  }

  return {
    baseUrl: base.href,

    async ensureSession() {
      const current = storage.load();
      if (current !== null && clock.now() < current.refreshExpiresAt && (await wxCheckSession(api))) {
        return publicSession(current);
      }
      return publicSession((await loginOnce()).session);
    },

    async login() {
      const { session, isNewUser } = await loginOnce();
      return { ...publicSession(session), isNewUser };
    },

    async request<T>(options: AuthRequestOptions) {
      const url = resolveUrl(base, options.url);
      if (!isUnderBase(base, url)) return (await wxRequest(api, { ...options, url })) as AuthResponse<T>;
      const response = await authorized(() => ({ ...options, url }), 'may-login');
      if (response === null) throw new Error('unreachable: may-login renewals never give up quietly');
      return response as AuthResponse<T>;
    },

    async logout(opts = {}) {
      const all = opts.all === true;
      try {
        const response = await authorized(
          (session) => post('/auth/logout', all ? { all: true } : { refresh_token: session.refreshToken }),
          'never-login',
        );
        if (response !== null && response.statusCode !== 204)
          throw serviceError(response, 'POST /auth/logout');
      } finally {
        storage.clear();
      }
    },

    async sessions() {
      const response = await authorized(() => call('GET', '/auth/sessions'), 'never-login');
      if (response === null) return [];
      if (response.statusCode !== 200) throw serviceError(response, 'GET /auth/sessions');
      const listed = objectOf(response.data)?.sessions;
      if (!Array.isArray(listed)) {
        throw new AuthError('invalid_response', 'GET /auth/sessions answered 200 without sessions.');
      }
      const entries = listed.map(sessionEntry);
      currentSessionId = entries.find((entry) => entry.current)?.id;
      return entries;
    },

    async endSession(id) {
      const path = `/auth/sessions/${encodeURIComponent(id)}`;
      const response = await authorized(() => call('DELETE', path), 'never-login');
      if (response === null) return;
      if (response.statusCode !== 204) throw serviceError(response, `DELETE ${path}`);
      if (id === currentSessionId) storage.clear();
    },

    async deleteAccount() {
      const response = await authorized(() => call('DELETE', '/auth/account'), 'never-login');
      if (response !== null && response.statusCode !== 204)
        throw serviceError(response, 'DELETE /auth/account');
      storage.clear();
      currentSessionId = undefined;
    },

    async getPhoneNumber(detail) {
      refuseDeclined(detail);
      let data: unknown;
      if (typeof detail.code === 'string' && detail.code !== '') {
        // The current API: a code WeChat exchanges, no session_key involved, so a login is harmless.
        const code = detail.code;
        const response = await authorized(() => post('/wechat/phone-number', { code }), 'may-login');
        if (response === null) throw new Error('unreachable: may-login renewals never give up quietly');
        if (response.statusCode !== 200) throw serviceError(response, 'POST /wechat/phone-number');
        data = response.data;
      } else {
        data = await openData('/wechat/phone-number', sealed(detail, "the getPhoneNumber button's e.detail"));
      }
      const body = objectOf(data);
      if (
        typeof body?.phoneNumber !== 'string' ||
        typeof body.purePhoneNumber !== 'string' ||
        typeof body.countryCode !== 'string'
      ) {
        throw new AuthError(
          'invalid_response',
          'POST /wechat/phone-number answered 200 without a phone number.',
        );
      }
      return {
        phoneNumber: body.phoneNumber,
        purePhoneNumber: body.purePhoneNumber,
        countryCode: body.countryCode,
      };
    },

    async userInfo<T>(detail: UserInfoDetail) {
      const body: Record<string, unknown> = sealed(detail, "wx.getUserProfile()'s result");
      if (typeof detail.rawData === 'string' && typeof detail.signature === 'string') {
        body.rawData = detail.rawData;
        body.signature = detail.signature;
      }
      return (await openData('/wechat/user-info', body)) as T;
    },

    async decrypt<T>(detail: OpenDataDetail) {
      return (await openData('/wechat/decrypt', sealed(detail, 'the open data'))) as T;
    },

    async scanWebLogin(scene) {
      const ticket = ticketOf(scene);
      const response = await authorized(() => post(`/auth/qr/${ticket}/scan`, {}), 'may-login');
      if (response === null) throw new Error('unreachable: may-login renewals never give up quietly');
      if (response.statusCode !== 200) throw serviceError(response, 'POST /auth/qr/{ticket}/scan');
      const body = objectOf(response.data);
      if (
        typeof body?.created_at !== 'number' ||
        typeof body.expires_at !== 'number' ||
        typeof body.address !== 'string' ||
        typeof body.user_agent !== 'string' ||
        typeof body.device !== 'string'
      ) {
        throw new AuthError(
          'invalid_response',
          'POST /auth/qr/{ticket}/scan answered 200 without the request.',
        );
      }
      return {
        ticket,
        createdAt: body.created_at * 1000,
        expiresAt: body.expires_at * 1000,
        address: body.address,
        userAgent: body.user_agent,
        device: body.device,
      };
    },

    async confirmWebLogin(ticket) {
      await webLoginStep(ticketOf(ticket), 'confirm');
    },

    async cancelWebLogin(ticket) {
      await webLoginStep(ticketOf(ticket), 'cancel');
    },

    session() {
      const current = storage.load();
      return current === null ? null : publicSession(current);
    },
  };

  async function webLoginStep(ticket: string, step: 'confirm' | 'cancel'): Promise<void> {
    const response = await authorized(() => post(`/auth/qr/${ticket}/${step}`, {}), 'may-login');
    if (response === null) throw new Error('unreachable: may-login renewals never give up quietly');
    if (response.statusCode !== 204) throw serviceError(response, `POST /auth/qr/{ticket}/${step}`);
  }
}

/**
 * The ticket in a web login's scene (the page's options.scene, URI-encoded by WeChat), checked before
 * it goes into a URL path with the access token: only the characters the service's tickets use.
 */
function ticketOf(scene: string): string {
  let decoded = typeof scene === 'string' ? scene : '';
  try {
    decoded = decodeURIComponent(decoded);
  } catch {
    // Not URI-encoded after all: taken as it is, and checked below.
  }
  if (!/^[A-Za-z0-9_-]{16,32}$/.test(decoded)) {
    throw new AuthError(
      'invalid_request',
      "This scene is not a web login's code (a ticket of POST /auth/qr): was the page opened from another code?",
    );
  }
  return decoded;
}

function noGlobalWx(): WxApi {
  const api = globalWx();
  if (api === undefined) {
    throw new TypeError('There is no global wx here: pass createAuthClient({ wx }) outside a mini-program.');
  }
  return api;
}

function publicSession(session: StoredSession): AuthSession {
  return session.unionid === undefined
    ? { openid: session.openid }
    : { openid: session.openid, unionid: session.unionid };
}

/** A button's detail whose errMsg is not `…:ok`: the user declined (or WeChat refused). */
function refuseDeclined(detail: { errMsg?: string }): void {
  if (typeof detail?.errMsg === 'string' && !/:\s*ok$/.test(detail.errMsg)) {
    throw new UserDeniedError(detail.errMsg);
  }
}

function objectOf(data: unknown): Record<string, unknown> | undefined {
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

function sessionEntry(item: unknown): SessionEntry {
  const entry = objectOf(item);
  if (entry === undefined || typeof entry.id !== 'string' || typeof entry.expires_at !== 'number') {
    throw new AuthError(
      'invalid_response',
      'GET /auth/sessions answered a session without id or expires_at.',
    );
  }
  const ms = (seconds: unknown) => (typeof seconds === 'number' ? seconds * 1000 : null);
  return {
    id: entry.id,
    createdAt: ms(entry.created_at),
    refreshedAt: ms(entry.refreshed_at),
    expiresAt: entry.expires_at * 1000,
    device: typeof entry.device === 'string' ? entry.device : null,
    current: entry.current === true,
  };
}

/** The service's 400 for the login body's `device` (and for nothing else). */
function refusedDevice(response: WxResponse): boolean {
  const description = objectOf(response.data)?.error_description;
  return (
    response.statusCode === 400 &&
    errorCodeOf(response) === 'invalid_request' &&
    typeof description === 'string' &&
    description.startsWith('device:')
  );
}

function errorCodeOf(response: WxResponse): string | undefined {
  const error = objectOf(response.data)?.error;
  return typeof error === 'string' ? error : undefined;
}

function headerOf(response: WxResponse, name: string): string | undefined {
  for (const [key, value] of Object.entries(response.header ?? {})) {
    if (key.toLowerCase() === name) return String(value);
  }
  return undefined;
}

/** The longest a refresh waits for a rate limit to pass before it gives up for this call. */
const RATE_LIMIT_WAIT_MAX_S = 60;

/** Retry-After in seconds (the service sends no HTTP-date), bounded; 1 s when missing or unreadable. */
function rateLimitWaitMs(response: WxResponse): number {
  const seconds = Number(headerOf(response, 'retry-after'));
  return (Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds, RATE_LIMIT_WAIT_MAX_S) : 1) * 1000;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** 401s the client can repair: a refused access token, or no session_key at the service. */
function refusalOf(response: WxResponse): 'invalid_token' | 'login_required' | undefined {
  if (response.statusCode !== 401) return undefined;
  const code = errorCodeOf(response);
  if (code === 'invalid_token' || code === 'login_required') return code;
  // Another API under baseUrl that verifies the same tokens may answer with the RFC 6750 header only.
  return /invalid_token/.test(headerOf(response, 'www-authenticate') ?? '') ? 'invalid_token' : undefined;
}

/** The service's `{error, error_description}` as an AuthError. */
function serviceError(response: WxResponse, what: string): AuthError {
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
