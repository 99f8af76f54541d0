import type { Logger } from 'pino';
import { sessionKeySignature } from '../crypto/index.js';
import {
  AccessDenied,
  type AppError,
  InvalidGrant,
  RateLimited,
  UpstreamUnavailable,
} from '../errors/index.js';
import { isOpenid, systemClock } from '../lib/index.js';
import { type AccessTokenStore, createAccessTokenManager, type IssuedWechatToken } from './access-token.js';
import { type PhoneNumber, parsePhoneNumber } from './phone-number.js';
import { KeyedThrottle } from './throttle.js';
import {
  createWechatTransport,
  WechatError,
  type WechatTransport,
  type WechatTransportOptions,
} from './transport.js';

export interface Code2SessionResult {
  openid: string;
  sessionKey: string;
  unionid?: string;
}

/** What sns/oauth2/access_token answers for a code of a mobile App (or a browser login). */
export interface OAuthExchangeResult {
  openid: string;
  unionid?: string;
  /** The user's sns access_token (for sns/userinfo); never stored, never answered. */
  accessToken: string;
  /** The scopes the person granted, as WeChat lists them (comma-separated). */
  scope: string;
  /**
   * WeChat's `is_snapshotuser: 1`: the page was opened as a 朋友圈 snapshot (快照页), and the openid is a
   * virtual one WeChat makes up for that view, no person's: never log it in.
   */
  snapshotUser?: true;
}

/** What sns/userinfo answers that wxauth uses: the person's unionid (the profile is left alone). */
export interface SnsUserinfo {
  unionid?: string;
}

export interface WechatClient {
  readonly appid: string;
  /**
   * sns/oauth2/access_token: exchanges the code of a mobile App's WeChat login (Open SDK SendAuth), or
   * of a browser login. No session_key comes of it. Errors are already the contract's.
   */
  exchangeOAuthCode(code: string): Promise<OAuthExchangeResult>;
  /**
   * sns/userinfo with the person's sns access_token (of an snsapi_userinfo or snsapi_login grant): the
   * unionid an official account's exchange does not always give. Errors are already the contract's.
   */
  getSnsUserinfo(accessToken: string, openid: string): Promise<SnsUserinfo>;
  /** auth.code2Session: exchanges a wx.login() code. Errors are already the contract's. */
  code2Session(code: string): Promise<Code2SessionResult>;
  /**
   * phonenumber.getPhoneNumber (wxa/business/getuserphonenumber): redeems a getPhoneNumber button code.
   * A code unknown, expired or used is `invalid_grant`; other errors are already the contract's.
   */
  getPhoneNumber(code: string): Promise<PhoneNumber>;
  /**
   * auth.checkSessionKey (wxa/checksession): whether `sessionKey` is still the user's current one at
   * WeChat. false on 87009 (a newer wx.login() replaced it); other errors are the contract's.
   */
  checkSessionKey(openid: string, sessionKey: string): Promise<boolean>;
  /**
   * checkSessionKey to explain a failed decrypt, which any logged-in client can cause at will: asked
   * at most once per user per minute, so bogus open data cannot spend the app's WeChat quota. Never
   * throws: 'unknown' when WeChat could not say, 'not_checked' when this user's minute was spent.
   */
  diagnoseSessionKey(openid: string, sessionKey: string): Promise<SessionKeyDiagnosis>;
  /**
   * wxacode.getUnlimited (wxa/getwxacodeunlimit): the picture of a mini-program code that opens `page`
   * with `scene`. The page is checked against the published mini-program for `release` only (WeChat's
   * check_path), so a page of a trial or develop version can be drawn before it is released. WeChat's
   * quota of codes spent (45009) is `rate_limited`; a page it refuses is logged as a configuration fault.
   */
  getUnlimitedWxacode(code: WxacodeRequest): Promise<WxacodePicture>;
}

export type SessionKeyDiagnosis = boolean | 'unknown' | 'not_checked';

export interface WxacodeRequest {
  /** At most 32 characters of [0-9A-Za-z!#$&'()*+,/:;=?@-._~]: what the page receives as options.scene. */
  scene: string;
  /** A page of the mini-program, without a leading slash, e.g. pages/qr-login/index. */
  page: string;
  envVersion: 'release' | 'trial' | 'develop';
}

/** WeChat labels every picture image/jpeg; `type` is what the bytes are. */
export interface WxacodePicture {
  type: 'image/png' | 'image/jpeg';
  bytes: Buffer;
}

export interface WechatClientOptions extends WechatTransportOptions {
  appid: string;
  secret: string;
  /** Where the app's access_token is shared between instances (the session store). */
  store: AccessTokenStore;
  /**
   * Which app's access_token this is in the store; undefined: the first mini-program's, under the key
   * it had before several apps.
   */
  tokenScope?: string;
}

const SESSION_KEY = /^[A-Za-z0-9+/]{22}==$/;
/** WeChat rejected our AppID or AppSecret: the operator must fix the settings. */
const CONFIG_FAULTS = new Set([40013, 40125, 41002, 41004]);
const ACCESS_TOKEN = /^[\x21-\x7e]{1,2048}$/;
/** getwxacodeunlimit: the page is not one of the published mini-program (or not a page path). */
const PAGE_REFUSED = 41030;
/** getwxacodeunlimit: the app's minute quota of codes is spent. */
const WXACODE_QUOTA = 45009;
const WXACODE_QUOTA_RETRY_S = 60;
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const JPEG_MAGIC = Buffer.from([0xff, 0xd8, 0xff]);
/** checksession: the signature does not match the user's current session_key. */
const SESSION_KEY_MISMATCH = 87009;
const DIAGNOSIS_WINDOW_MS = 60_000;
/** Users diagnosed per window and process, at most: bounds the memory and the quota spent on them. */
const DIAGNOSIS_MAX_USERS = 1000;

export function createWechatClient(options: WechatClientOptions): WechatClient {
  const transport: WechatTransport = createWechatTransport(options);
  const { appid, secret, logger } = options;
  const clock = options.clock ?? systemClock;
  const accessTokens = createAccessTokenManager({
    store: options.store,
    clock,
    logger,
    timeoutMs: options.timeoutMs,
    issue: stableToken,
    ...(options.tokenScope === undefined ? {} : { scope: options.tokenScope }),
  });
  // In process, not in the store: a Redis round trip per failed decrypt would cost more than the
  // diagnosis is worth, and N instances asking at most N times per user per minute bounds it enough.
  const diagnoses = new KeyedThrottle({
    windowMs: DIAGNOSIS_WINDOW_MS,
    maxKeys: DIAGNOSIS_MAX_USERS,
    clock,
  });
  /** One deadline per client-facing operation: its token fetch, lock waits, call and retry share it. */
  const deadline = () => performance.now() + options.timeoutMs;

  /** cgi-bin/stable_token: the token and its remaining life. */
  async function stableToken(forceRefresh: boolean, until: number): Promise<IssuedWechatToken> {
    const body = await transport.call({
      api: 'stable_token',
      method: 'POST',
      path: 'cgi-bin/stable_token',
      json: { grant_type: 'client_credential', appid, secret, force_refresh: forceRefresh },
      deadline: until,
    });
    const { access_token: token, expires_in: expiresInS } = body;
    if (
      typeof token !== 'string' ||
      !ACCESS_TOKEN.test(token) ||
      typeof expiresInS !== 'number' ||
      !Number.isSafeInteger(expiresInS) ||
      expiresInS <= 0
    ) {
      throw badShape('stable_token', 'a usable access_token and expires_in');
    }
    return { token, expiresInS };
  }

  function badShape(api: string, what: string): UpstreamUnavailable {
    logger.warn(
      { event: 'wechat_failure', api, reason: 'bad_shape' },
      `WeChat ${api} answered without ${what}`,
    );
    return new UpstreamUnavailable(`WeChat answered ${api} without ${what}.`);
  }

  async function getPhoneNumber(code: string): Promise<PhoneNumber> {
    let body: Record<string, unknown>;
    const until = deadline();
    try {
      body = await accessTokens.withAccessToken(
        (token) =>
          transport.call({
            api: 'getuserphonenumber',
            method: 'POST',
            path: 'wxa/business/getuserphonenumber',
            searchParams: { access_token: token },
            json: { code },
            deadline: until,
          }),
        until,
      );
    } catch (error) {
      throw phoneNumberError(error, logger);
    }
    const phone = parsePhoneNumber(body.phone_info);
    if (!phone) throw badShape('getuserphonenumber', 'a usable phone_info');
    return phone;
  }

  async function checkSessionKey(openid: string, sessionKey: string): Promise<boolean> {
    const until = deadline();
    try {
      await accessTokens.withAccessToken(
        (token) =>
          transport.call({
            api: 'checksession',
            method: 'GET',
            path: 'wxa/checksession',
            searchParams: {
              access_token: token,
              openid,
              signature: sessionKeySignature(sessionKey),
              sig_method: 'hmac_sha256',
            },
            deadline: until,
          }),
        until,
      );
      return true;
    } catch (error) {
      if (error instanceof WechatError && error.errcode === SESSION_KEY_MISMATCH) return false;
      throw toAppError(error, logger);
    }
  }

  async function diagnoseSessionKey(openid: string, sessionKey: string): Promise<SessionKeyDiagnosis> {
    if (!diagnoses.take(openid)) return 'not_checked';
    try {
      return await checkSessionKey(openid, sessionKey);
    } catch {
      // The transport logged WeChat's failure; the caller's answer does not depend on it.
      return 'unknown';
    }
  }

  async function code2Session(code: string): Promise<Code2SessionResult> {
    let body: Record<string, unknown>;
    try {
      body = await transport.call({
        api: 'jscode2session',
        method: 'GET',
        path: 'sns/jscode2session',
        searchParams: { appid, secret, js_code: code, grant_type: 'authorization_code' },
      });
    } catch (error) {
      throw toAppError(error, logger);
    }
    const { openid, session_key: sessionKey, unionid } = body;
    if (
      typeof openid !== 'string' ||
      !isOpenid(openid) ||
      typeof sessionKey !== 'string' ||
      !SESSION_KEY.test(sessionKey)
    ) {
      logger.warn(
        { event: 'wechat_failure', api: 'jscode2session', reason: 'bad_shape' },
        'WeChat jscode2session answered without a usable openid/session_key',
      );
      throw new UpstreamUnavailable(
        'WeChat answered jscode2session without a usable openid and session_key.',
      );
    }
    return { openid, sessionKey, ...(typeof unionid === 'string' && unionid ? { unionid } : {}) };
  }

  async function exchangeOAuthCode(code: string): Promise<OAuthExchangeResult> {
    let body: Record<string, unknown>;
    try {
      body = await transport.call({
        api: 'sns_oauth2',
        method: 'GET',
        path: 'sns/oauth2/access_token',
        searchParams: { appid, secret, code, grant_type: 'authorization_code' },
      });
    } catch (error) {
      throw oauthCodeError(error, logger);
    }
    const { openid, unionid, access_token: accessToken, scope, is_snapshotuser: snapshot } = body;
    if (typeof openid !== 'string' || !isOpenid(openid) || typeof accessToken !== 'string' || !accessToken) {
      throw badShape('sns/oauth2/access_token', 'a usable openid and access_token');
    }
    return {
      openid,
      accessToken,
      scope: typeof scope === 'string' ? scope : '',
      ...(typeof unionid === 'string' && unionid ? { unionid } : {}),
      // 1 as WeChat documents it; "1" too, since a field of this API has come as a string before.
      ...(snapshot === 1 || snapshot === '1' ? { snapshotUser: true as const } : {}),
    };
  }

  async function getSnsUserinfo(accessToken: string, openid: string): Promise<SnsUserinfo> {
    let body: Record<string, unknown>;
    try {
      body = await transport.call({
        api: 'sns_userinfo',
        method: 'GET',
        path: 'sns/userinfo',
        searchParams: { access_token: accessToken, openid, lang: 'en' },
      });
    } catch (error) {
      throw toAppError(error, logger);
    }
    const { unionid } = body;
    return typeof unionid === 'string' && unionid ? { unionid } : {};
  }

  async function getUnlimitedWxacode(code: WxacodeRequest): Promise<WxacodePicture> {
    const until = deadline();
    let bytes: Buffer;
    try {
      bytes = await accessTokens.withAccessToken(
        (token) =>
          transport.callForBytes({
            api: 'getwxacodeunlimit',
            method: 'POST',
            path: 'wxa/getwxacodeunlimit',
            searchParams: { access_token: token },
            json: {
              scene: code.scene,
              page: code.page,
              check_path: code.envVersion === 'release',
              env_version: code.envVersion,
            },
            deadline: until,
          }),
        until,
      );
    } catch (error) {
      throw wxacodeError(error, logger);
    }
    const type = startsWith(bytes, PNG_MAGIC)
      ? 'image/png'
      : startsWith(bytes, JPEG_MAGIC)
        ? 'image/jpeg'
        : undefined;
    if (type === undefined) throw badShape('getwxacodeunlimit', 'a PNG or JPEG picture');
    return { type, bytes };
  }

  return {
    appid,
    code2Session,
    exchangeOAuthCode,
    getSnsUserinfo,
    getPhoneNumber,
    checkSessionKey,
    diagnoseSessionKey,
    getUnlimitedWxacode,
  };
}

/** A WeChat login code of an App or a browser is not a wx.login() code: say what to do instead. */
function oauthCodeError(error: unknown, logger: Logger): unknown {
  if (
    error instanceof WechatError &&
    (error.errcode === 40029 || error.errcode === 40163 || error.errcode === 41008)
  ) {
    return new InvalidGrant(
      error.errcode === 40163
        ? 'The WeChat login code was already used: ask WeChat for a new one.'
        : "The WeChat login code is unknown, expired, or another app's: ask WeChat for a new one.",
      { wechatErrcode: error.errcode },
    );
  }
  return toAppError(error, logger);
}

/** getuserphonenumber's own meanings of errcodes that mean something else for a login code. */
function phoneNumberError(error: unknown, logger: Logger): unknown {
  if (error instanceof WechatError && error.api === 'getuserphonenumber') {
    const options = { wechatErrcode: error.errcode };
    if (error.errcode === 40029) {
      return new InvalidGrant(
        'The phone-number code is unknown, expired or already used: ask the user to tap the getPhoneNumber button again.',
        options,
      );
    }
    if (error.errcode === 45011) {
      return new RateLimited(
        'WeChat limits how often phone numbers may be asked for: wait and retry.',
        options,
      );
    }
  }
  return toAppError(error, logger);
}

/** getwxacodeunlimit's errcodes that say something to the operator, or to the caller about waiting. */
function wxacodeError(error: unknown, logger: Logger): unknown {
  if (error instanceof WechatError && error.api === 'getwxacodeunlimit') {
    const options = { wechatErrcode: error.errcode };
    if (error.errcode === WXACODE_QUOTA) {
      // The app's quota, not this client's doing, but a wait is what helps: 429, not a WeChat outage.
      return new RateLimited(
        "WeChat's quota of mini-program codes for this minute is spent: retry in a minute.",
        {
          ...options,
          retryAfter: WXACODE_QUOTA_RETRY_S,
        },
      );
    }
    if (error.errcode === PAGE_REFUSED) {
      logger.error(
        { event: 'wechat_config_fault', api: error.api, errcode: error.errcode, rid: error.rid },
        'WeChat refused the page of the mini-program code: QR_LOGIN_PAGE must be a page of the published mini-program (or set QR_LOGIN_ENV_VERSION to trial or develop)',
      );
      return new UpstreamUnavailable(
        "The service is misconfigured for WeChat's mini-program codes; its operators have been told.",
        options,
      );
    }
  }
  return toAppError(error, logger);
}

function startsWith(bytes: Buffer, magic: Buffer): boolean {
  return bytes.length > magic.length && bytes.subarray(0, magic.length).equals(magic);
}

/** WeChat's errcodes as the contract's errors. Transport failures are already AppErrors. */
export function toAppError(error: unknown, logger: Logger): unknown {
  if (!(error instanceof WechatError)) return error;
  const options = { wechatErrcode: error.errcode };
  const mapped: AppError = (() => {
    switch (error.errcode) {
      case 40029:
        return new InvalidGrant('The code is invalid or expired: call wx.login() again.', options);
      case 40163:
        return new InvalidGrant('The code was already used: call wx.login() again.', options);
      case 45011:
        return new RateLimited(
          'WeChat limits this user to fewer logins per minute: wait and retry.',
          options,
        );
      case 40226:
        return new AccessDenied("WeChat's risk control refused this user.", options);
      case -1:
        return new UpstreamUnavailable('WeChat is busy: retry shortly.', options);
      default:
        if (CONFIG_FAULTS.has(error.errcode)) {
          logger.error(
            { event: 'wechat_config_fault', api: error.api, errcode: error.errcode, rid: error.rid },
            'WeChat rejected the AppID or AppSecret: check WECHAT_APPID and WECHAT_SECRET',
          );
          return new UpstreamUnavailable(
            'The service is misconfigured for WeChat; its operators have been told.',
            options,
          );
        }
        return new UpstreamUnavailable(
          `WeChat answered ${error.api} with errcode ${error.errcode}.`,
          options,
        );
    }
  })();
  return mapped;
}
