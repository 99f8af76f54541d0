/// <reference types="miniprogram-api-typings" preserve="true" />
import { AuthError, NetworkError } from './errors.js';

/**
 * The part of the mini-program's `wx` the client uses; the real `wx` is one, a test can pass a shim.
 * The device and account APIs are optional: older base libraries lack getDeviceInfo and getAppBaseInfo
 * (and, before 2.2.2, getAccountInfoSync).
 */
export type WxApi = Pick<
  WechatMiniprogram.Wx,
  'request' | 'login' | 'checkSession' | 'getStorageSync' | 'setStorageSync' | 'removeStorageSync'
> &
  Partial<
    Pick<
      WechatMiniprogram.Wx,
      'getDeviceInfo' | 'getAppBaseInfo' | 'getSystemInfoSync' | 'getAccountInfoSync'
    >
  >;

export type HttpMethod = NonNullable<WechatMiniprogram.RequestOption['method']>;

/** What `wx.request` is asked to do (its callbacks aside). */
export interface WxRequest {
  url: string;
  method?: HttpMethod;
  data?: WechatMiniprogram.RequestOption['data'];
  header?: Record<string, string>;
  timeout?: number;
  dataType?: string;
  responseType?: 'text' | 'arraybuffer';
}

/** An HTTP answer, whatever its status: `wx.request` calls `success` for a 500 too. */
export interface WxResponse<T = unknown> {
  statusCode: number;
  data: T;
  /** Response headers as WeChat hands them over (name case as the server sent it). */
  header: Record<string, string>;
}

/** The global `wx` of the mini-program, or undefined elsewhere (Node, a unit test). */
export function globalWx(): WxApi | undefined {
  return typeof wx === 'undefined' ? undefined : wx;
}

/** `wx.request` as a promise: any HTTP answer resolves; a transport failure rejects with NetworkError. */
export function wxRequest(api: WxApi, request: WxRequest): Promise<WxResponse> {
  return new Promise((resolve, reject) => {
    api.request({
      ...request,
      success(result) {
        resolve({ statusCode: result.statusCode, data: result.data, header: result.header ?? {} });
      },
      fail(failure) {
        reject(new NetworkError(request.url, failure.errMsg, failure.errno));
      },
    });
  });
}

/** `wx.login()`: a fresh login code (valid five minutes, single use). */
export function wxLogin(api: WxApi): Promise<string> {
  return new Promise((resolve, reject) => {
    api.login({
      success(result) {
        if (typeof result.code === 'string' && result.code !== '') resolve(result.code);
        else reject(new AuthError('wx_login_failed', `wx.login() gave no code (${result.errMsg}).`));
      },
      fail(failure) {
        reject(new AuthError('wx_login_failed', `wx.login() failed: ${failure.errMsg}`));
      },
    });
  });
}

/** `wx.checkSession()`: true while WeChat's session (the session_key the server holds) is live. */
export function wxCheckSession(api: WxApi): Promise<boolean> {
  return new Promise((resolve) => {
    api.checkSession({
      success: () => resolve(true),
      fail: () => resolve(false),
    });
  });
}

/** The service keeps at most this many characters of a device. */
const DEVICE_MAX_CHARACTERS = 64;

/**
 * What the phone is, for the user's list of sessions: brand and model, system, WeChat version, e.g.
 * `iPhone 15 Pro; iOS 17.4; WeChat 8.0.47`. From getDeviceInfo and getAppBaseInfo where the base library
 * has them, else the deprecated getSystemInfoSync; undefined when none answers.
 */
export function wxDevice(api: WxApi): string | undefined {
  const device: { brand?: string; model?: string; system?: string } | undefined =
    attempt(() => api.getDeviceInfo?.()) ?? attempt(() => api.getSystemInfoSync?.());
  const version =
    attempt(() => api.getAppBaseInfo?.().version) ?? attempt(() => api.getSystemInfoSync?.().version);
  const brand = text(device?.brand);
  const model = text(device?.model);
  const name =
    brand && model && !model.toLowerCase().startsWith(brand.toLowerCase())
      ? `${brand} ${model}`
      : (model ?? brand);
  const parts = [name, text(device?.system), version ? `WeChat ${text(version)}` : undefined];
  const described = parts.filter((part) => part !== undefined && part !== '').join('; ');
  // Whole characters, not UTF-16 units: an emoji in a model name stays whole.
  return described === '' ? undefined : Array.from(described).slice(0, DEVICE_MAX_CHARACTERS).join('');
}

/** The shape of an appid the service takes in a login body. */
const APPID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The mini-program's own appid, `wx.getAccountInfoSync().miniProgram.appId`, which the login sends so
 * that a service serving several apps knows which one this is; undefined when the base library lacks
 * the API (before 2.2.2), it throws, or it answers something that is no appid (sent, the service
 * would refuse the login for it).
 */
export function wxAppId(api: WxApi): string | undefined {
  const appId = attempt(() => api.getAccountInfoSync?.().miniProgram?.appId);
  return typeof appId === 'string' && APPID.test(appId) ? appId : undefined;
}

/** What `read` answers, or undefined when it throws (an API missing from this base library, or failing). */
function attempt<T>(read: () => T | undefined): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/** Control and invisible formatting characters, which the service refuses in a device. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it matches
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]/g;

/** A field as the service accepts it: printable only (the service refuses control characters). */
function text(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const cleaned = value.replace(UNPRINTABLE, '').trim();
  return cleaned === '' ? undefined : cleaned;
}
