/// <reference types="miniprogram-api-typings" preserve="true" />
import { AuthError, NetworkError } from './errors.js';

/** The part of the mini-program's `wx` the client uses; the real `wx` is one, a test can pass a shim. */
export type WxApi = Pick<
  WechatMiniprogram.Wx,
  'request' | 'login' | 'checkSession' | 'getStorageSync' | 'setStorageSync' | 'removeStorageSync'
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
