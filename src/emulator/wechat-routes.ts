import { sessionKeySignature } from '../crypto/index.js';
import { epochSeconds } from '../lib/index.js';
import { parseJson } from './http-io.js';
import { DEFAULT_PROFILE, displayedPhoneNumber } from './open-data.js';
import type { AppState, EmulatorState } from './state.js';
import type { DrawnWxacode, EmulatedApi } from './types.js';
import { isFailure, WECHAT_ERRORS, type WechatFailure } from './wechat-errors.js';
import { drawQrCode } from './wxacode.js';

export interface WechatRequest {
  query: URLSearchParams;
  /** undefined: larger than the body limit. */
  body: string | undefined;
}

/** An answer that is a picture's bytes rather than JSON. */
export interface Picture {
  picture: Buffer;
}

export interface WechatRoute {
  api: EmulatedApi;
  method: 'GET' | 'POST';
  contentType: string;
  /** WeChat's answer body; errors are `{errcode, errmsg}` without the rid, which the server appends. */
  answer(request: WechatRequest, state: EmulatorState): object | Promise<object | Picture>;
}

export function isPicture(answer: object): answer is Picture {
  return 'picture' in answer && Buffer.isBuffer(answer.picture);
}

// jscode2session really answers JSON as text/plain; the cgi-bin and wxa APIs say this.
const JSON_TYPE = 'application/json; encoding=utf-8';

function jsonBody(request: WechatRequest): Record<string, unknown> | undefined {
  const value = request.body === undefined ? undefined : parseJson(request.body);
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** The app these credentials open, or WeChat's refusal. */
function appOf(state: EmulatorState, appid: unknown, secret: unknown): AppState | WechatFailure {
  return state.checkAppCredentials(text(appid), text(secret));
}

function isApp(value: AppState | WechatFailure): value is AppState {
  return !('errcode' in value);
}

/**
 * The mini-program an access token is of. The wxa APIs are the mini-programs': an official account's
 * token (or another kind's) meets 48001, as WeChat answers an API the account has no right to.
 */
function miniProgramOfToken(state: EmulatorState, token: string | null): AppState | WechatFailure {
  const app = state.accessTokenApp(token);
  if (isApp(app) && app.kind !== 'miniprogram') return WECHAT_ERRORS.apiUnauthorized;
  return app;
}

const jscode2session: WechatRoute = {
  api: 'jscode2session',
  method: 'GET',
  contentType: 'text/plain',
  answer({ query }, state) {
    const app = appOf(state, query.get('appid'), query.get('secret'));
    if (!isApp(app)) return app;
    // A mobile app's, an official account's or a website's appid is no mini-program's: WeChat answers
    // jscode2session for it as for an appid it does not know (40013, as developers who mixed up their
    // official account's and mini-program's appids report).
    if (app.kind !== 'miniprogram') return WECHAT_ERRORS.invalidAppid;
    if (query.get('grant_type') !== 'authorization_code') return WECHAT_ERRORS.invalidGrantType;
    const user = state.exchangeLoginCode(query.get('js_code') ?? '', app);
    if (isFailure(user)) return user;
    return {
      session_key: user.sessionKey,
      openid: user.openid,
      ...(user.unionid === undefined ? {} : { unionid: user.unionid }),
    };
  },
};

const stableToken: WechatRoute = {
  api: 'stable_token',
  method: 'POST',
  contentType: JSON_TYPE,
  answer(request, state) {
    const body = jsonBody(request);
    if (!body) return WECHAT_ERRORS.dataFormat;
    const app = appOf(state, body.appid, body.secret);
    if (!isApp(app)) return app;
    if (body.grant_type !== 'client_credential') return WECHAT_ERRORS.invalidGrantType;
    return state.stableAccessToken(app, body.force_refresh === true);
  },
};

const legacyToken: WechatRoute = {
  api: 'token',
  method: 'GET',
  contentType: JSON_TYPE,
  answer({ query }, state) {
    if (query.get('grant_type') !== 'client_credential') return WECHAT_ERRORS.invalidGrantType;
    const app = appOf(state, query.get('appid'), query.get('secret'));
    if (!isApp(app)) return app;
    return state.legacyAccessToken(app);
  },
};

const getUserPhoneNumber: WechatRoute = {
  api: 'getuserphonenumber',
  method: 'POST',
  contentType: JSON_TYPE,
  answer(request, state) {
    const app = miniProgramOfToken(state, request.query.get('access_token'));
    if (!isApp(app)) return app;
    const body = jsonBody(request);
    if (!body) return WECHAT_ERRORS.dataFormat;
    // Another mini-program's phone code is unknown to this one (40029) and stays usable there.
    const user = state.redeemPhoneCode(text(body.code) ?? '', app);
    if (isFailure(user)) return user;
    return {
      errcode: 0,
      errmsg: 'ok',
      phone_info: {
        phoneNumber: displayedPhoneNumber(user),
        purePhoneNumber: user.phoneNumber,
        countryCode: user.countryCode,
        watermark: { timestamp: epochSeconds(state.now()), appid: app.appid },
      },
    };
  },
};

const checkSession: WechatRoute = {
  api: 'checksession',
  method: 'GET',
  contentType: JSON_TYPE,
  answer({ query }, state) {
    const app = miniProgramOfToken(state, query.get('access_token'));
    if (!isApp(app)) return app;
    // The openid must be this mini-program's: the same person's openid in another app is not (40003).
    const openid = query.get('openid') ?? '';
    const user = state.findUser(openid, app.appid);
    if (user?.openid !== openid) return WECHAT_ERRORS.invalidOpenid;
    if (query.get('sig_method') !== 'hmac_sha256') return WECHAT_ERRORS.invalidArgs;
    if (query.get('signature') !== sessionKeySignature(user.sessionKey))
      return WECHAT_ERRORS.invalidSignature;
    return { errcode: 0, errmsg: 'ok' };
  },
};

/** At most 32 of the characters WeChat documents for a scene; % is not one, so no URI-encoding either. */
const SCENE = /^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}$/;
/** A page path as app.json lists it: no leading slash, no query (parameters go in the scene). */
const PAGE = /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/;
const ENV_VERSIONS = ['release', 'trial', 'develop'] as const;
const HOME_PAGE = 'pages/index/index';

/**
 * wxacode.getUnlimited: the picture of a mini-program code opening `page` with `scene`. WeChat labels
 * its pictures and its errcode bodies alike image/jpeg. The emulator draws a standard QR code (WeChat
 * draws its round code), so a camera app reads what the phone would open: the page and the scene as
 * the page's options.scene gets it, URI-encoded.
 */
const getWxacodeUnlimit: WechatRoute = {
  api: 'getwxacodeunlimit',
  method: 'POST',
  contentType: 'image/jpeg',
  async answer(request, state) {
    const app = miniProgramOfToken(state, request.query.get('access_token'));
    if (!isApp(app)) return app;
    const body = jsonBody(request);
    if (!body) return WECHAT_ERRORS.dataFormat;
    const scene = text(body.scene);
    if (scene === undefined || !SCENE.test(scene)) return WECHAT_ERRORS.invalidScene;
    const page = body.page === undefined || body.page === '' ? HOME_PAGE : text(body.page);
    if (page === undefined || !PAGE.test(page)) return WECHAT_ERRORS.invalidPage;
    if (body.check_path !== false && !state.config.pages.includes(page)) return WECHAT_ERRORS.invalidPage;
    const envVersion = body.env_version ?? 'release';
    if (!ENV_VERSIONS.includes(envVersion as DrawnWxacode['env_version'])) return WECHAT_ERRORS.invalidArgs;
    const width = typeof body.width === 'number' && Number.isFinite(body.width) ? body.width : 430;
    const picture = await drawQrCode(`${page}?scene=${encodeURIComponent(scene)}`, width);
    state.recordWxacode({
      scene,
      page,
      env_version: envVersion as DrawnWxacode['env_version'],
      drawn_at: state.now(),
    });
    return { picture };
  },
};

/**
 * The code exchange of mobile apps (SendAuth), official accounts and websites (OAuth redirect). Like
 * jscode2session, WeChat labels this JSON text/plain (iOS clients strict about JSON content types
 * trip over it). A mini-program's code, or another app's, is unknown here (40029).
 */
const oauth2AccessToken: WechatRoute = {
  api: 'oauth2_access_token',
  method: 'GET',
  contentType: 'text/plain',
  answer({ query }, state) {
    const app = appOf(state, query.get('appid'), query.get('secret'));
    if (!isApp(app)) return app;
    if (query.get('grant_type') !== 'authorization_code') return WECHAT_ERRORS.invalidGrantType;
    const code = query.get('code');
    if (!code) return WECHAT_ERRORS.codeMissing;
    const grant = state.exchangeOauthCode(code, app);
    if (isFailure(grant)) return grant;
    // WeChat's documented answer (网页授权, 通过code换取网页授权access_token): is_snapshotuser is there
    // only for a snapshot page's virtual account, and then it is 1.
    return {
      ...state.issueSnsToken(grant),
      openid: grant.openid,
      scope: grant.scope,
      ...(grant.snapshot ? { is_snapshotuser: 1 } : {}),
      ...(grant.unionid === undefined ? {} : { unionid: grant.unionid }),
    };
  },
};

/**
 * The profile of the person a web-authorization access token is for. A snsapi_base token (an official
 * account's silent login) has no right to it (48001); the openid must be the token's (40003). Nor has a
 * snapshot page's virtual account: its token is snsapi_base, and developers report 48001 "api
 * unauthorized" for is_snapshotuser 1 tokens at sns/userinfo (WeChat's developer community).
 */
const userinfo: WechatRoute = {
  api: 'userinfo',
  method: 'GET',
  contentType: 'text/plain',
  answer({ query }, state) {
    const token = state.snsToken(query.get('access_token'));
    if (isFailure(token)) return token;
    if (query.get('openid') !== token.openid) return WECHAT_ERRORS.invalidOpenid;
    if (token.scope === 'snsapi_base' || token.snapshot) return WECHAT_ERRORS.apiUnauthorized;
    const user = state.findUser(token.openid, token.appid);
    if (!user) return WECHAT_ERRORS.invalidOpenid;
    return {
      openid: user.openid,
      nickname: DEFAULT_PROFILE.nickName,
      sex: DEFAULT_PROFILE.gender,
      province: DEFAULT_PROFILE.province,
      city: DEFAULT_PROFILE.city,
      country: DEFAULT_PROFILE.country,
      headimgurl: DEFAULT_PROFILE.avatarUrl,
      privilege: [],
      ...(user.unionid === undefined ? {} : { unionid: user.unionid }),
    };
  },
};

/** WeChat's server API by path. */
export const WECHAT_ROUTES: ReadonlyMap<string, WechatRoute> = new Map([
  ['/sns/jscode2session', jscode2session],
  ['/cgi-bin/stable_token', stableToken],
  ['/cgi-bin/token', legacyToken],
  ['/wxa/business/getuserphonenumber', getUserPhoneNumber],
  ['/wxa/checksession', checkSession],
  ['/wxa/getwxacodeunlimit', getWxacodeUnlimit],
  ['/sns/oauth2/access_token', oauth2AccessToken],
  ['/sns/userinfo', userinfo],
]);
