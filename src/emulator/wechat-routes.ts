import { sessionKeySignature } from '../crypto/index.js';
import { epochSeconds } from '../lib/index.js';
import { parseJson } from './http-io.js';
import { displayedPhoneNumber } from './open-data.js';
import type { EmulatorState } from './state.js';
import type { DrawnWxacode, EmulatedApi } from './types.js';
import { isFailure, WECHAT_ERRORS } from './wechat-errors.js';
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

const jscode2session: WechatRoute = {
  api: 'jscode2session',
  method: 'GET',
  contentType: 'text/plain',
  answer({ query }, state) {
    const refused = state.checkAppCredentials(query.get('appid'), query.get('secret'));
    if (refused) return refused;
    if (query.get('grant_type') !== 'authorization_code') return WECHAT_ERRORS.invalidGrantType;
    const user = state.exchangeLoginCode(query.get('js_code') ?? '');
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
    const refused = state.checkAppCredentials(text(body.appid), text(body.secret));
    if (refused) return refused;
    if (body.grant_type !== 'client_credential') return WECHAT_ERRORS.invalidGrantType;
    return state.stableAccessToken(body.force_refresh === true);
  },
};

const legacyToken: WechatRoute = {
  api: 'token',
  method: 'GET',
  contentType: JSON_TYPE,
  answer({ query }, state) {
    if (query.get('grant_type') !== 'client_credential') return WECHAT_ERRORS.invalidGrantType;
    const refused = state.checkAppCredentials(query.get('appid'), query.get('secret'));
    if (refused) return refused;
    return state.legacyAccessToken();
  },
};

const getUserPhoneNumber: WechatRoute = {
  api: 'getuserphonenumber',
  method: 'POST',
  contentType: JSON_TYPE,
  answer(request, state) {
    const refused = state.checkAccessToken(request.query.get('access_token'));
    if (refused) return refused;
    const body = jsonBody(request);
    if (!body) return WECHAT_ERRORS.dataFormat;
    const user = state.redeemPhoneCode(text(body.code) ?? '');
    if (isFailure(user)) return user;
    return {
      errcode: 0,
      errmsg: 'ok',
      phone_info: {
        phoneNumber: displayedPhoneNumber(user),
        purePhoneNumber: user.phoneNumber,
        countryCode: user.countryCode,
        watermark: { timestamp: epochSeconds(state.now()), appid: state.config.appid },
      },
    };
  },
};

const checkSession: WechatRoute = {
  api: 'checksession',
  method: 'GET',
  contentType: JSON_TYPE,
  answer({ query }, state) {
    const refused = state.checkAccessToken(query.get('access_token'));
    if (refused) return refused;
    const user = state.findUser(query.get('openid') ?? '');
    if (!user) return WECHAT_ERRORS.invalidOpenid;
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
    const refused = state.checkAccessToken(request.query.get('access_token'));
    if (refused) return refused;
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

/** WeChat's server API by path. */
export const WECHAT_ROUTES: ReadonlyMap<string, WechatRoute> = new Map([
  ['/sns/jscode2session', jscode2session],
  ['/cgi-bin/stable_token', stableToken],
  ['/cgi-bin/token', legacyToken],
  ['/wxa/business/getuserphonenumber', getUserPhoneNumber],
  ['/wxa/checksession', checkSession],
  ['/wxa/getwxacodeunlimit', getWxacodeUnlimit],
]);
