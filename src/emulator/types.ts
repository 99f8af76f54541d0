import type { Clock } from '../lib/index.js';

/** The WeChat server APIs the emulator answers, named as `calls()` and faults name them. */
export type EmulatedApi =
  | 'jscode2session'
  | 'stable_token'
  | 'token'
  | 'getuserphonenumber'
  | 'checksession'
  | 'getwxacodeunlimit';

export const EMULATED_APIS: readonly EmulatedApi[] = [
  'jscode2session',
  'stable_token',
  'token',
  'getuserphonenumber',
  'checksession',
  'getwxacodeunlimit',
];

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
}

export interface EmulatorOptions {
  /** Decides code, phone-code and access-token expiry (not the real-time delay of 'slow'). */
  clock?: Clock;
  /** Default: 'wx' + 16 random hex characters. */
  appid?: string;
  /** Default: 32 random hex characters. */
  secret?: string;
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
  /** Default: a random WeChat-like openid ('o' + 27 characters). */
  openid?: string;
  /** true: a random unionid; a string: that unionid; default: none. */
  unionid?: string | boolean;
  /** The number without country code, as WeChat's purePhoneNumber. Default: a random 138… number. */
  phoneNumber?: string;
  /** Default '86'. */
  countryCode?: string;
}

export interface EmulatedUser {
  readonly openid: string;
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
export interface EmulatorControl {
  createUser(opts?: CreateUserOptions): EmulatedUser;
  /** What wx.login() does: a fresh single-use code. Creates the user when openid is omitted or unknown. */
  login(openid?: string, opts?: { rotateSessionKey?: boolean }): { code: string; openid: string };
  /** What the getPhoneNumber button gives: a single-use code for getuserphonenumber. */
  phoneCode(openid: string): string;
  /**
   * Open data as the phone would hand it over. `data` overrides the generated fields of 'phone' and
   * 'userInfo' (a foreign watermark, another openId) and is the payload of 'raw'.
   */
  encrypt(openid: string, kind: EncryptKind, data?: object): EncryptedPayload;
  sessionKeyOf(openid: string): string;
  /** Every access token issued so far answers 40001, as after a refresh by another server. */
  invalidateAccessTokens(): void;
  setFault(fault: Fault): void;
  clearFaults(): void;
  /** Throws, listing them, when armed faults were never hit. */
  assertNoPendingFaults(): void;
  /**
   * The mini-program codes drawn (wxacode.getUnlimited), newest first, the latest 50: what a phone's
   * camera would find on a screen showing them.
   */
  wxacodes(): DrawnWxacode[];
  /** Requests the API received (all APIs when omitted), faulted ones included. */
  calls(api?: EmulatedApi): number;
  /** Forgets users, codes, tokens, drawn codes, faults and counts; keeps appid, secret and the listening socket. */
  reset(): void;
}

export interface Emulator extends EmulatorControl {
  readonly appid: string;
  readonly secret: string;
  /** Resolves the base URL, e.g. http://127.0.0.1:41234. Defaults: port 0 (any free), host 127.0.0.1. */
  listen(port?: number, host?: string): Promise<string>;
  /** The base URL; throws before listen(). */
  readonly url: string;
  /** Stops listening and destroys every open connection, including those held by 'slow' faults. Idempotent. */
  close(): Promise<void>;
}
