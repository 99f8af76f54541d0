import type { WxApi } from './lib/wxauth/index';

/** The emulator's user this mini-program is, kept as WeChat keeps one user per phone. */
const OPENID_KEY = 'wxauth-example:emulated-openid';

/**
 * `wx` for a wxauth started with nothing configured, whose WeChat is its built-in emulator: that
 * emulator exchanges only the codes it gave, so wx.login() asks it for one (`POST /demo/wx/login`,
 * which wxauth serves only with the emulator, never in production) instead of asking WeChat. The
 * code is one of the emulator's first mini-program, whose AppID (new at each start of wxauth) the
 * answer names: wx.getAccountInfoSync() answers it, since the client sends that AppID with the login
 * (the emulator serves several mini-programs, so wxauth needs it). Every other call is the real `wx`'s.
 */
export function emulatedWechat(baseUrl: string): WxApi {
  /** The emulated mini-program's AppID, once a login answered it (the client asks after wx.login()). */
  let appId: string | undefined;
  const login = (option: WechatMiniprogram.LoginOption = {}) => {
    const openid: unknown = wx.getStorageSync(OPENID_KEY);
    wx.request({
      url: `${baseUrl}/demo/wx/login`,
      method: 'POST',
      data: typeof openid === 'string' && openid !== '' ? { openid } : {},
      success(result) {
        const answer = result.data as { code?: unknown; openid?: unknown; appid?: unknown };
        if (result.statusCode === 200 && typeof answer.code === 'string') {
          wx.setStorageSync(OPENID_KEY, answer.openid);
          if (typeof answer.appid === 'string') appId = answer.appid;
          option.success?.({ code: answer.code, errMsg: 'login:ok' });
        } else {
          // errno -1: no error of WeChat's, the emulator's answer was not a code.
          option.fail?.({
            errno: -1,
            errMsg: `login:fail ${baseUrl}/demo/wx/login answered ${result.statusCode}: is it wxauth started with nothing configured?`,
          });
        }
      },
      fail: (failure) => option.fail?.({ errno: failure.errno, errMsg: `login:fail ${failure.errMsg}` }),
    });
  };
  // The emulator's session_key changes only with a login: the session stays valid until then.
  const checkSession = (option: WechatMiniprogram.CheckSessionOption = {}) =>
    option.success?.({ errMsg: 'checkSession:ok' });
  // The client asks it once a wx.login() answered; before that, the real one's (DevTools' touristappid,
  // or the project's), which is no app of the emulator.
  const getAccountInfoSync = (): WechatMiniprogram.AccountInfo =>
    appId === undefined
      ? wx.getAccountInfoSync()
      : { miniProgram: { appId, envVersion: 'develop', version: '' }, plugin: { appId: '', version: '' } };
  return {
    request: wx.request.bind(wx) as WxApi['request'],
    login: login as WxApi['login'],
    checkSession: checkSession as WxApi['checkSession'],
    getStorageSync: wx.getStorageSync.bind(wx) as WxApi['getStorageSync'],
    setStorageSync: wx.setStorageSync.bind(wx) as WxApi['setStorageSync'],
    removeStorageSync: wx.removeStorageSync.bind(wx) as WxApi['removeStorageSync'],
    getDeviceInfo: wx.getDeviceInfo?.bind(wx) as WxApi['getDeviceInfo'],
    getAppBaseInfo: wx.getAppBaseInfo?.bind(wx) as WxApi['getAppBaseInfo'],
    getSystemInfoSync: wx.getSystemInfoSync?.bind(wx) as WxApi['getSystemInfoSync'],
    getAccountInfoSync,
  };
}
