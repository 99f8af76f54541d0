import type { Router } from '@koa/router';
import type { Middleware } from 'koa';
import { z } from 'zod';
import type { OpenData } from '../../auth/index.js';
import { CODE_PATTERN, CODE_SHAPE } from '../../lib/index.js';
import type { AccessTokens } from '../../tokens/index.js';
import { type BearerState, bearer } from '../middleware/bearer.js';
import { readBody } from '../middleware/body.js';
import { noStore } from '../middleware/no-store.js';

/*
 * Bodies take WeChat's own field names, so a page can forward the button's e.detail as is; fields this
 * service does not use (errMsg, cloudID, userInfo…) are ignored.
 */

const SHA1_HEX = /^[0-9a-fA-F]{40}$/;
const RAW_DATA_MAX_CHARS = 16 * 1024;

const encryptedData = z.string({ error: 'must be a base64 string (e.detail.encryptedData)' }).optional();
const iv = z.string({ error: 'must be a base64 string of 16 bytes (e.detail.iv)' }).optional();

const PhoneNumberBody = z.object({
  code: z
    .string({ error: 'must be a string, the getPhoneNumber code (e.detail.code)' })
    .regex(CODE_PATTERN, `must be ${CODE_SHAPE}`)
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
  openData: OpenData;
  access: AccessTokens;
  /** Rate limits: `ip` run before the token is checked, `user` after (they count by its subject). */
  limits: { ip: Middleware[]; user: Middleware[] };
}

/** Open data and WeChat's server APIs for the token's subject: parse, one call, answer. */
export function wechatRoutes(router: Router<BearerState>, deps: WechatRouteDeps): void {
  const { openData, access, limits } = deps;
  const guard = [noStore, ...limits.ip, bearer(access), ...limits.user];

  router.post('/wechat/phone-number', ...guard, async function answerPhoneNumber(ctx) {
    ctx.body = await openData.phoneNumber(
      ctx.state.subject.sub,
      readBody(ctx, PhoneNumberBody),
      ctx.state.log,
    );
  });

  router.post('/wechat/user-info', ...guard, async function answerUserInfo(ctx) {
    ctx.body = await openData.userInfo(ctx.state.subject.sub, readBody(ctx, UserInfoBody), ctx.state.log);
  });

  router.post('/wechat/decrypt', ...guard, async function answerOpenData(ctx) {
    ctx.body = await openData.decrypt(ctx.state.subject.sub, readBody(ctx, OpenDataBody), ctx.state.log);
  });

  router.get('/wechat/session', ...guard, async function askWechatWhetherSessionKeyLives(ctx) {
    ctx.body = { session_key_valid: await openData.sessionKeyValid(ctx.state.subject.sub) };
  });
}
