import type { WxApi } from './lib/wxauth/index';

/** The emulator's user this mini-program is, kept as WeChat keeps one user per phone. */
const OPENID_KEY = 'wxauth-example:emulated-openid';

/**
 * `wx` for a wxauth started with nothing configured, whose WeChat is its built-in emulator: that
 * emulator exchanges only the codes it gave, so wx.login() asks it for one (`POST /demo/wx/login`,
 * which wxauth serves only with the emulator, never in production) instead of asking WeChat. Every
 * other call is the real `wx`'s.
 */
export function emulatedWechat(baseUrl: string): WxApi {
  const login = (option: WechatMiniprogram.LoginOption = {}) => {
    const openid: unknown = wx.getStorageSync(OPENID_KEY);
    wx.request({
      url: `${baseUrl}/demo/wx/login`,
      method: 'POST',
      data: typeof openid === 'string' && openid !== '' ? { openid } : {},
      success(result) {
        const answer = result.data as { code?: unknown; openid?: unknown };
        if (result.statusCode === 200 && typeof answer.code === 'string') {
          wx.setStorageSync(OPENID_KEY, answer.openid);
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
  };
}
