import type { AppKind } from '../config/apps.js';
import type { Clock } from '../lib/index.js';

/** The WeChat server APIs the emulator answers, named as `calls()` and faults name them. */
export type EmulatedApi =
  | 'jscode2session'
  | 'stable_token'
  | 'token'
  | 'getuserphonenumber'
  | 'checksession'
  | 'getwxacodeunlimit'
  /** GET /sns/oauth2/access_token: the code exchange of mobile apps, official accounts and websites. */
  | 'oauth2_access_token'
  /** GET /sns/userinfo, with an access token oauth2_access_token gave. */
  | 'userinfo';

export const EMULATED_APIS: readonly EmulatedApi[] = [
  'jscode2session',
  'stable_token',
  'token',
  'getuserphonenumber',
  'checksession',
  'getwxacodeunlimit',
  'oauth2_access_token',
  'userinfo',
];

/** The APIs only apps other than mini-programs call. */
export const SNS_OAUTH_APIS: readonly EmulatedApi[] = ['oauth2_access_token', 'userinfo'];

/** One app bound to the emulated open-platform account. */
export interface EmulatedApp {
  readonly appid: string;
  readonly secret: string;
  readonly kind: AppKind;
  /** What a person sees; default the appid. */
  readonly name: string;
}

/** An app as createEmulator takes it: appid and secret default to new random ones. */
export interface EmulatedAppOptions {
  appid?: string;
  secret?: string;
  kind: AppKind;
  name?: string;
}

/** Which app a control operation acts for; default the first (`apps[0]`). */
export interface AppChoice {
  appid?: string;
}

export type FaultMode = 'busy' | 'http500' | 'garbage' | 'slow' | 'drop' | 'errcode';

/** One way for WeChat to misbehave, armed for the next `times` requests to `api` ('*': any API). */
export interface Fault {
  api: EmulatedApi | '*';
  mode: FaultMode;
  /** mode 'errcode' only (required there). */
  errcode?: number;
  /** mode 'errcode' only; `, rid: …` is appended as WeChat does. */
  errmsg?: string;
  /** mode 'slow' only: milliseconds before the correct answer. Default 30000. */
  delayMs?: number;
  /** Default 1. */
  times?: number;
  /**
   * Only requests for this app (named by their appid, or by an access token of the app): one app's
   * WeChat can fail while another's answers. Default: any app.
   */
  appid?: string;
}

export interface EmulatorOptions {
  /** Decides code, phone-code and access-token expiry (not the real-time delay of 'slow'). */
  clock?: Clock;
  /** The single mini-program's; default 'wx' + 16 random hex characters. Refused together with `apps`. */
  appid?: string;
  /** The single mini-program's; default 32 random hex characters. Refused together with `apps`. */
  secret?: string;
  /**
   * The apps bound to the emulated open-platform account, the first the default of every operation
   * (and `appid`/`secret`). Default: one mini-program, of `appid` and `secret`. zeroConfigApps() gives
   * the set wxauth's zero-config mode serves.
   */
  apps?: readonly EmulatedAppOptions[];
  /** Lifetime of wx.login() and getPhoneNumber codes, milliseconds. Default 300000. */
  codeTtlMs?: number;
  /** Lifetime of access tokens, seconds. Default 7200. */
  accessTokenTtlS?: number;
  /**
   * The pages of the published mini-program, which wxacode.getUnlimited checks `page` against unless
   * `check_path` is false. Default: ['pages/index/index' (the home page), 'pages/qr-login/index'].
   */
  pages?: readonly string[];
}

export interface CreateUserOptions {
  /**
   * The person's openid in the app `appid` names (default the first). Default: a random WeChat-like
   * openid ('o' + 27 characters). The openids in the other apps are derived from it and that app.
   */
  openid?: string;
  /** The app whose openid `openid` is; default the first. */
  appid?: string;
  /** true: a random unionid; a string: that unionid; default: none. */
  unionid?: string | boolean;
  /** The number without country code, as WeChat's purePhoneNumber. Default: a random 138… number. */
  phoneNumber?: string;
  /** Default '86'. */
  countryCode?: string;
}

/** A person of the open-platform account: one openid per app, one unionid (if any) for all. */
export interface EmulatedUser {
  /** The openid in the first app (or in the app createUser's `appid` named). */
  readonly openid: string;
  /** Every app's openid, by appid. */
  readonly openids: Readonly<Record<string, string>>;
  /** The same in every app, as for apps bound to one open-platform account. */
  readonly unionid?: string;
  readonly phoneNumber: string;
  readonly countryCode: string;
}

export type EncryptKind = 'phone' | 'userInfo' | 'raw';

/** A mini-program code wxacode.getUnlimited drew: what a phone scanning it opens. */
export interface DrawnWxacode {
  scene: string;
  page: string;
  env_version: 'release' | 'trial' | 'develop';
  /** Epoch ms, the emulator's clock. */
  drawn_at: number;
}

/** What the phone hands the mini-program page (e.detail), encrypted with the user's current session_key. */
export interface EncryptedPayload {
  encryptedData: string;
  iv: string;
  /** kind 'userInfo' only. */
  rawData?: string;
  /** kind 'userInfo' only: sha1(rawData + session_key). */
  signature?: string;
}

/** The operations a test or a person drives the emulator with; also served under /__emulator/. */
export interface LoginOptions extends AppChoice {
  /** Mini-programs only (the others have no session_key). Default true: a new session_key. */
  rotateSessionKey?: boolean;
  /** Official accounts only: 'snsapi_base' (default) or 'snsapi_userinfo'. */
  scope?: 'snsapi_base' | 'snsapi_userinfo';
}

export type AuthorizeDecision = 'allow' | 'refuse';

/** A browser login played without a browser: what the person does on WeChat's login page. */
export interface AuthorizeOptions {
  /** An official account's (connect/oauth2/authorize) or a website's (connect/qrconnect). */
  appid: string;
  /** The redirect_uri the service sent, decoded: an absolute http(s) URL. */
  redirectUri: string;
  /** Default ''. */
  state?: string;
  /** Official accounts: 'snsapi_base' (default) or 'snsapi_userinfo'; websites: 'snsapi_login' (default). */
  scope?: 'snsapi_base' | 'snsapi_userinfo' | 'snsapi_login';
  /** The person, by their openid in any app; omitted or unknown: a new person (as login()). */
  openid?: string;
  /** 'refuse' only where WeChat shows a consent: snsapi_userinfo and websites. */
  decision: AuthorizeDecision;
  /**
   * Official accounts only: the page was opened as a Moments (朋友圈) snapshot, so the code is a virtual
   * account's (is_snapshotuser 1, snsapi_base). Default false.
   */
  snapshot?: boolean;
}

/**
 * The operations a test or a person drives the emulator with; also served under /__emulator/. An
 * `openid` names a person by their openid in any app; `appid` (default the first app) names the app
 * acted for, and what comes back (codes, openids, watermarks) is that app's.
 */
export interface EmulatorControl {
  /** Every app, the first the default; secrets included (the HTTP listing leaves them out). */
  readonly apps: readonly EmulatedApp[];
  createUser(opts?: CreateUserOptions): EmulatedUser;
  /**
   * What logging in on the app gives its server: for a mini-program wx.login()'s code (jscode2session),
   * for a mobile app SendAuth's, for an official account or website the OAuth redirect's (those three
   * for /sns/oauth2/access_token). A fresh single-use code and the person's openid in that app. Creates
   * the user when openid is omitted or unknown (then `openid` is theirs in that app).
   */
  login(openid?: string, opts?: LoginOptions): { code: string; openid: string };
  /**
   * What WeChat's login page does after the person's choice, without a browser: `location` is the URL it
   * redirects to (redirect_uri?code=…&state=…, or ?state=… after a refusal). Throws (400) for what the
   * page would show an error for, with WeChat's text ("10003 redirect_uri域名与后台配置不一致").
   */
  authorize(opts: AuthorizeOptions): { location: string };
  /** What the getPhoneNumber button gives: a single-use code for getuserphonenumber. Mini-programs only. */
  phoneCode(openid: string, opts?: AppChoice): string;
  /**
   * Open data as the phone would hand it over. `data` overrides the generated fields of 'phone' and
   * 'userInfo' (a foreign watermark, another openId) and is the payload of 'raw'. Mini-programs only.
   */
  encrypt(openid: string, kind: EncryptKind, data?: object, opts?: AppChoice): EncryptedPayload;
  /** Mini-programs only: the session_key is the person's in that app. */
  sessionKeyOf(openid: string, opts?: AppChoice): string;
  /**
   * Every access token stable_token and token issued so far (of the app `appid` names, or of all apps
   * when omitted) answers 40001, as after a refresh by another server. /sns/ tokens are left alone.
   */
  invalidateAccessTokens(opts?: AppChoice): void;
  setFault(fault: Fault): void;
  clearFaults(): void;
  /** Throws, listing them, when armed faults were never hit. */
  assertNoPendingFaults(): void;
  /**
   * The mini-program codes drawn (wxacode.getUnlimited), newest first, the latest 50: what a phone's
   * camera would find on a screen showing them.
   */
  wxacodes(): DrawnWxacode[];
  /**
   * Requests the API received (all APIs when omitted), faulted ones included; with `appid`, only those
   * for that app (named by their appid or by an access token of the app).
   */
  calls(api?: EmulatedApi, appid?: string): number;
  /** Forgets users, codes, tokens, drawn codes, faults and counts; keeps the apps and the listening socket. */
  reset(): void;
}

export interface Emulator extends EmulatorControl {
  /** The first app's. */
  readonly appid: string;
  /** The first app's. */
  readonly secret: string;
  /** Resolves the base URL, e.g. http://127.0.0.1:41234. Defaults: port 0 (any free), host 127.0.0.1. */
  listen(port?: number, host?: string): Promise<string>;
  /** The base URL; throws before listen(). */
  readonly url: string;
  /** Stops listening and destroys every open connection, including those held by 'slow' faults. Idempotent. */
  close(): Promise<void>;
}
