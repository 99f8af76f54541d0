import type { WxApi } from '../../src/client/index.js';
import type { Emulator } from '../../src/emulator/index.js';

/** One call the page's code made to `wx`, in order. */
export type WxCall =
  | { api: 'request'; method: string; url: string; authorization?: string; data?: unknown }
  | { api: 'login'; code: string }
  | { api: 'checkSession'; live: boolean };

export interface WxShim extends WxApi {
  /** wx storage, in memory. */
  readonly storage: Map<string, unknown>;
  /** Every call, in order. */
  readonly calls: WxCall[];
  /** The phone's WeChat user: set by the first wx.login() when not given. */
  openid: string | undefined;
  /** What wx.checkSession() answers. Default true. */
  sessionLive: boolean;
  /**
   * true, or true for some requests: wx.request fails as WeChat does without a network
   * (`request:fail …`) and nothing is sent.
   */
  offline: boolean | ((method: string, url: string) => boolean);
  /** Runs before each request goes out (a test may await something there to order requests). */
  beforeRequest?: (method: string, url: string) => Promise<void> | void;
  /**
   * What wx.getDeviceInfo() answers (brand, model, system) and wx.getAppBaseInfo() the WeChat version;
   * `legacy`: the base library has only wx.getSystemInfoSync(), which answers both; undefined: none.
   */
  device: { brand: string; model: string; system: string; version: string; legacy?: boolean } | undefined;
  /**
   * What wx.getAccountInfoSync().miniProgram.appId answers (default: the emulator's appid, the app the
   * service is configured with); undefined: it throws. Delete `getAccountInfoSync` for a base library
   * without it (before 2.2.2).
   */
  appid: string | undefined;
  logins(): number;
  /** Requests sent, optionally only those to `path` (e.g. 'POST /auth/refresh'). */
  requests(methodAndPath?: string): Array<Extract<WxCall, { api: 'request' }>>;
}

interface ShimOptions {
  emulator: Emulator;
  openid?: string;
  /** Another phone's storage, e.g. to model the mini-program being closed and opened again. */
  storage?: Map<string, unknown>;
}

/**
 * A `wx` for Node: `request` is real HTTP (fetch) to whatever URL it is given, `login` asks the WeChat
 * emulator for a code as the phone would, `checkSession` answers what the test says, and storage is a Map.
 * It follows WeChat's conventions: callbacks, `success` for every HTTP status, `fail` with an errMsg,
 * JSON bodies parsed when `dataType` is 'json' (the default), `getStorageSync` giving '' for a missing key.
 */
export function createWxShim(options: ShimOptions): WxShim {
  const { emulator } = options;
  const storage = options.storage ?? new Map<string, unknown>();
  const calls: WxCall[] = [];

  const request = (option: WechatMiniprogram.RequestOption) => {
    const method = option.method ?? 'GET';
    let url = option.url;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(option.header ?? {}))
      headers[name.toLowerCase()] = String(value);
    let body: string | undefined;
    if (option.data !== undefined) {
      if (method === 'GET') {
        const query = new URLSearchParams(option.data as Record<string, string>).toString();
        url += (url.includes('?') ? '&' : '?') + query;
      } else if (typeof option.data === 'string') {
        body = option.data;
      } else {
        body = JSON.stringify(option.data);
        headers['content-type'] ??= 'application/json';
      }
    }
    calls.push({
      api: 'request',
      method,
      url,
      ...(headers.authorization === undefined ? {} : { authorization: headers.authorization }),
      ...(option.data === undefined ? {} : { data: structuredClone(option.data) }),
    });
    const fail = (errMsg: string) =>
      option.fail?.({ errMsg, errno: 600001 } as WechatMiniprogram.RequestFailCallbackErr);
    const send = async () => {
      await shim.beforeRequest?.(method, url);
      const offline = typeof shim.offline === 'function' ? shim.offline(method, url) : shim.offline;
      if (offline) return fail('request:fail net::ERR_INTERNET_DISCONNECTED');
      let response: Response;
      try {
        response = await fetch(url, {
          method,
          headers,
          ...(body === undefined ? {} : { body }),
          redirect: 'manual',
          signal: AbortSignal.timeout(option.timeout ?? 60_000),
        });
      } catch (error) {
        return fail(`request:fail ${(error as Error).message}`);
      }
      const text = await response.text();
      let data: unknown = text;
      if ((option.dataType ?? 'json') === 'json' && text !== '') {
        try {
          data = JSON.parse(text);
        } catch {
          // WeChat hands over the text when it is not JSON.
        }
      }
      option.success?.({
        statusCode: response.status,
        data,
        header: Object.fromEntries(response.headers),
        cookies: [],
        errMsg: 'request:ok',
      } as unknown as WechatMiniprogram.RequestSuccessCallbackResult);
    };
    void send();
    return { abort() {} } as WechatMiniprogram.RequestTask;
  };

  const login = (option: WechatMiniprogram.LoginOption = {}) => {
    setImmediate(() => {
      const { code, openid } = emulator.login(shim.openid);
      shim.openid = openid;
      calls.push({ api: 'login', code });
      option.success?.({ code, errMsg: 'login:ok' });
    });
  };

  const checkSession = (option: WechatMiniprogram.CheckSessionOption = {}) => {
    setImmediate(() => {
      const live = shim.sessionLive;
      calls.push({ api: 'checkSession', live });
      if (live) option.success?.({ errMsg: 'checkSession:ok' });
      else option.fail?.({ errMsg: 'checkSession:fail session time out, need relogin' });
    });
  };

  const shim: WxShim = {
    storage,
    calls,
    openid: options.openid,
    sessionLive: true,
    offline: false,
    device: { brand: 'iPhone', model: 'iPhone 15 Pro', system: 'iOS 17.4.1', version: '8.0.47' },
    getDeviceInfo: (() => {
      if (shim.device === undefined || shim.device.legacy)
        throw new TypeError('wx.getDeviceInfo is not a function');
      const { brand, model, system } = shim.device;
      return { brand, model, system };
    }) as WxApi['getDeviceInfo'],
    getAppBaseInfo: (() => {
      if (shim.device === undefined || shim.device.legacy)
        throw new TypeError('wx.getAppBaseInfo is not a function');
      return { version: shim.device.version };
    }) as WxApi['getAppBaseInfo'],
    getSystemInfoSync: (() => {
      if (shim.device === undefined) throw new TypeError('wx.getSystemInfoSync is not a function');
      const { brand, model, system, version } = shim.device;
      return { brand, model, system, version };
    }) as WxApi['getSystemInfoSync'],
    request: request as WxApi['request'],
    login: login as WxApi['login'],
    checkSession: checkSession as WxApi['checkSession'],
    appid: emulator.appid,
    getAccountInfoSync: (() => {
      if (shim.appid === undefined) throw new Error('getAccountInfoSync:fail');
      return {
        miniProgram: { appId: shim.appid, envVersion: 'release', version: '1.0.0' },
        plugin: {},
      };
    }) as WxApi['getAccountInfoSync'],
    getStorageSync: ((key: string) =>
      storage.has(key) ? structuredClone(storage.get(key)) : '') as WxApi['getStorageSync'],
    setStorageSync: (key: string, data: unknown) => {
      storage.set(key, structuredClone(data));
    },
    removeStorageSync: (key: string) => {
      storage.delete(key);
    },
    logins: () => calls.filter((call) => call.api === 'login').length,
    requests(methodAndPath) {
      return calls.filter(
        (call): call is Extract<WxCall, { api: 'request' }> =>
          call.api === 'request' &&
          (methodAndPath === undefined || `${call.method} ${new URL(call.url).pathname}` === methodAndPath),
      );
    },
  };
  return shim;
}
