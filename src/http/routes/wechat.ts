import type { Router } from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { Logger } from 'pino';
import { z } from 'zod';
import {
  acceptOpenData,
  decodeEncryptedOpenData,
  decryptOpenData,
  type EncryptedOpenData,
  verifyRawDataSignature,
} from '../../crypto/index.js';
import { DecryptFailed, InvalidOpenData, InvalidRequest, LoginRequired } from '../../errors/index.js';
import type { SessionStore } from '../../store/index.js';
import type { AccessTokens } from '../../tokens/index.js';
import type { PhoneNumber, WechatClient } from '../../wechat/index.js';
import { type BearerState, bearer } from '../middleware/bearer.js';
import { readBody } from '../middleware/body.js';
import { noStore } from '../middleware/no-store.js';

/*
 * Bodies take WeChat's own field names, so a page can forward the button's e.detail as is; fields this
 * service does not use (errMsg, cloudID, userInfo…) are ignored.
 */

const BUTTON_CODE = /^[\x21-\x7e]{1,128}$/;
const SHA1_HEX = /^[0-9a-fA-F]{40}$/;
const RAW_DATA_MAX_CHARS = 16 * 1024;

const encryptedData = z.string({ error: 'must be a base64 string (e.detail.encryptedData)' }).optional();
const iv = z.string({ error: 'must be a base64 string of 16 bytes (e.detail.iv)' }).optional();

const PhoneNumberBody = z.object({
  code: z
    .string({ error: 'must be a string, the getPhoneNumber code (e.detail.code)' })
    .regex(BUTTON_CODE, 'must be 1 to 128 printable ASCII characters without spaces')
    .optional(),
  encryptedData,
  iv,
});

const OpenDataBody = z.object({ encryptedData, iv });

const UserInfoBody = z.object({
  encryptedData,
  iv,
  rawData: z
    .string({ error: 'must be a string (e.detail.rawData)' })
    .max(RAW_DATA_MAX_CHARS, `must be at most ${RAW_DATA_MAX_CHARS} characters`)
    .optional(),
  signature: z
    .string({ error: 'must be a string (e.detail.signature)' })
    .regex(SHA1_HEX, 'must be the 40 hexadecimal characters of a sha1')
    .optional(),
});

export interface WechatRouteDeps {
  wechat: WechatClient;
  store: SessionStore;
  access: AccessTokens;
  /** Rate limits: `ip` run before the token is checked, `user` after (they count by its subject). */
  limits: { ip: Middleware[]; user: Middleware[] };
}

/**
 * Open data and WeChat's server APIs for the token's subject. The session_key is used here and never
 * leaves the server: answers carry only the decrypted data, without its watermark.
 */
export function wechatRoutes(router: Router<BearerState>, deps: WechatRouteDeps): void {
  const { wechat, store, access, limits } = deps;
  const guard = [noStore, ...limits.ip, bearer(access), ...limits.user];

  /** The subject's stored session_key; login_required when there is none. */
  async function storedSessionKey(openid: string): Promise<string> {
    const user = await store.getUser(openid);
    if (!user) {
      throw new LoginRequired(
        'No session_key is stored for this user: call wx.login() and POST /auth/login, then retry.',
      );
    }
    return user.sessionKey;
  }

  /**
   * Decrypts with the subject's session_key and accepts only data of this mini-program and this user.
   * On a decrypt failure, asks WeChat whether the stored key is still the live one, to say which it is
   * (at most once per user per minute: the client decides how often its data fails).
   */
  async function openForSubject(
    ctx: Context,
    sealed: EncryptedOpenData,
  ): Promise<{ data: Record<string, unknown>; sessionKey: string }> {
    const openid: string = ctx.state.subject.sub;
    const sessionKey = await storedSessionKey(openid);
    let data: Record<string, unknown>;
    try {
      data = decryptOpenData(sessionKey, sealed);
    } catch (error) {
      if (error instanceof DecryptFailed)
        throw await explainDecryptFailure(ctx.state.log, openid, sessionKey, error);
      throw error;
    }
    return { data: acceptOpenData(data, { appid: wechat.appid, openid }), sessionKey };
  }

  async function explainDecryptFailure(
    log: Logger,
    openid: string,
    sessionKey: string,
    failure: DecryptFailed,
  ): Promise<DecryptFailed> {
    // Never throws: whatever WeChat says, or if it is not asked, the answer stays the decrypt failure.
    const live = await wechat.diagnoseSessionKey(openid, sessionKey);
    log.info(
      { event: 'open_data_decrypt_failed', session_key_valid: live },
      live === true
        ? 'open data does not decrypt although WeChat says the stored session_key is live'
        : 'open data does not decrypt with the stored session_key',
    );
    if (live !== true) return failure;
    return new DecryptFailed(
      'The data does not decrypt with the session_key of the current login, which WeChat says is still valid: it was altered or encrypted for another login. Ask the user again; if it keeps failing, call wx.login() and POST /auth/login again.',
      { cause: failure.cause },
    );
  }

  router.post('/wechat/phone-number', ...guard, async function answerPhoneNumber(ctx) {
    const body = readBody(ctx, PhoneNumberBody);
    // The getPhoneNumber button's e.detail carries both a code and the legacy fields: the code wins.
    if (body.code !== undefined) {
      ctx.body = await wechat.getPhoneNumber(body.code);
      return;
    }
    if (body.encryptedData === undefined && body.iv === undefined) {
      throw new InvalidRequest(
        'Send {"code"} from the getPhoneNumber button, or {"encryptedData", "iv"} of the legacy API.',
      );
    }
    const { data } = await openForSubject(ctx, sealedOpenData(body));
    ctx.body = phoneNumberOf(data);
  });

  router.post('/wechat/user-info', ...guard, async function answerUserInfo(ctx) {
    const body = readBody(ctx, UserInfoBody);
    const sealed = sealedOpenData(body);
    if ((body.rawData === undefined) !== (body.signature === undefined)) {
      throw new InvalidRequest('rawData and signature go together: send both (e.detail) or neither.');
    }
    const { data, sessionKey } = await openForSubject(ctx, sealed);
    if (body.rawData !== undefined && body.signature !== undefined) {
      verifyRawDataSignature(body.rawData, body.signature, sessionKey);
    }
    ctx.body = data;
  });

  router.post('/wechat/decrypt', ...guard, async function answerOpenData(ctx) {
    const body = readBody(ctx, OpenDataBody);
    const { data } = await openForSubject(ctx, sealedOpenData(body));
    ctx.body = data;
  });

  router.get('/wechat/session', ...guard, async function askWechatWhetherSessionKeyLives(ctx) {
    const openid = ctx.state.subject.sub;
    const sessionKey = await storedSessionKey(openid);
    ctx.body = { session_key_valid: await wechat.checkSessionKey(openid, sessionKey) };
  });
}

/** encryptedData and iv, both present and well-formed (checked before any lookup or crypto). */
function sealedOpenData(body: {
  encryptedData?: string | undefined;
  iv?: string | undefined;
}): EncryptedOpenData {
  if (body.encryptedData === undefined || body.iv === undefined) {
    throw new InvalidRequest('encryptedData and iv are both required (e.detail.encryptedData, e.detail.iv).');
  }
  const sealed = { encryptedData: body.encryptedData, iv: body.iv };
  decodeEncryptedOpenData(sealed);
  return sealed;
}

function phoneNumberOf(data: Record<string, unknown>): PhoneNumber {
  const { phoneNumber, purePhoneNumber, countryCode } = data;
  if (
    typeof phoneNumber !== 'string' ||
    typeof purePhoneNumber !== 'string' ||
    typeof countryCode !== 'string'
  ) {
    throw new InvalidOpenData(
      "The open data is not a phone number (no phoneNumber, purePhoneNumber and countryCode): send the getPhoneNumber button's encryptedData and iv.",
    );
  }
  return { phoneNumber, purePhoneNumber, countryCode };
}
