/// <reference types="miniprogram-api-typings" preserve="true" />
/** The client's public types: what createAuthClient takes and what its AuthClient answers. */
import type { WxApi, WxRequest, WxResponse } from './wx.js';

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
 * when and from where, and what the browser says it is (as its claim: a phishing page's server can
 * claim anything), then ask the user to pick the number the website shows from `choices`.
 */
export interface WebLoginRequest {
  /** What `confirmWebLogin()` and `cancelWebLogin()` take. */
  ticket: string;
  /** When the website asked for the code, and when it stops working: epoch milliseconds. */
  createdAt: number;
  expiresAt: number;
  /** The address that asked for the code, and the User-Agent that browser sent: what it claims to be. */
  address: string;
  userAgent: string;
  /**
   * The browser's claim in a few words, as the list of sessions will show it:
   * `Web · Chrome 120 on Windows`. Show it as "says it is", never as a fact.
   */
  device: string;
  /**
   * Three two-digit numbers in random order: the user picks the one the website shows beside the code,
   * and `confirmWebLogin()` takes it. A wrong pick ends the code (number matching against a code
   * relayed from someone else's screen). Empty from a service of the version before number matching:
   * then show one confirm button and pass `''`, which that version ignores.
   */
  choices: string[];
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
  /**
   * The user confirmed, picking `match` from the request's `choices`: the website that shows the code
   * is logged in as them. A pick other than the website's number rejects with `invalid_grant`, and the
   * code is over (the website shows a new one).
   */
  confirmWebLogin(ticket: string, match: string): Promise<void>;
  /** The user declined: the website is told. */
  cancelWebLogin(ticket: string): Promise<void>;
  /** The stored session, without any call; null when logged out. */
  session(): AuthSession | null;
}
