import type { Router } from '@koa/router';
import type { Middleware } from 'koa';
import { z } from 'zod';
import type { OpenData, OpenDataCaller } from '../../auth/index.js';
import { CODE_PATTERN, CODE_SHAPE } from '../../lib/index.js';
import type { AccessTokens } from '../../tokens/index.js';
import {
  bearerOrLoginRequired,
  error,
  json,
  openDataErrors,
  ref,
  storeErrors,
  upstreamErrors,
} from '../answers.js';
import { answerSchemaOf, declareRoute, mounter } from '../declare.js';
import { type BearerState, bearer } from '../middleware/bearer.js';
import { noStore } from '../middleware/no-store.js';

/*
 * Bodies take WeChat's own field names, so a page can forward the button's e.detail as is; fields this
 * service does not use (errMsg, cloudID, userInfo…) are ignored.
 */

const SHA1_HEX = /^[0-9a-fA-F]{40}$/;
const RAW_DATA_MAX_CHARS = 16 * 1024;

const encryptedData = z
  .string({ error: 'must be a base64 string (e.detail.encryptedData)' })
  .meta({
    description:
      'base64 (e.detail.encryptedData) of a non-empty multiple of 16 bytes, at most 65536; a + turned into a space by form encoding is repaired',
  })
  .optional();
const iv = z
  .string({ error: 'must be a base64 string of 16 bytes (e.detail.iv)' })
  .meta({ description: 'base64 of exactly 16 bytes (e.detail.iv)' })
  .optional();

/*
 * encryptedData and iv are optional to the schema: open-data.ts refuses a body without both, in its own
 * words (and after the phone number's code, which needs neither). The document states the rule.
 */
const sealed = {
  description:
    "The page may forward the event's e.detail as is: fields not named here (errMsg, cloudID, userInfo…) are ignored.",
  required: ['encryptedData', 'iv'],
};

/** Well-formed, though no session_key decrypts it: what each field looks like. */
const sealedExample = {
  encryptedData: 'BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=',
  iv: 'AwMDAwMDAwMDAwMDAwMDAw==',
};

const OpenDataBody = z.object({ encryptedData, iv }).meta({ ...sealed, examples: [sealedExample] });

const phoneNumberRoute = declareRoute({
  method: 'post',
  path: '/wechat/phone-number',
  auth: 'bearer',
  summary: "The user's phone number: current API (getPhoneNumber code) or legacy (encryptedData + iv)",
  description:
    'With a code, asks WeChat (phonenumber.getPhoneNumber); the session_key is not needed. Without one, decrypts encryptedData and iv with the stored session_key. A body with both (the e.detail of the button, forwarded as is) uses the code.',
  body: z
    .object({
      code: z
        .string({ error: 'must be a string, the getPhoneNumber code (e.detail.code)' })
        .regex(CODE_PATTERN, `must be ${CODE_SHAPE}`)
        .meta({ description: 'e.detail.code, single use' })
        .optional(),
      encryptedData,
      iv,
    })
    .meta({
      description: sealed.description,
      anyOf: [{ required: ['code'] }, { required: sealed.required }],
      examples: [{ code: 'e31968a7f94cc5ee25fafc2aef2773f0bb8c3937b22520eb8ee345274d00c144' }, sealedExample],
    }),
  responses: {
    '200': { description: 'The phone number, watermark removed', content: json(ref('PhoneNumber')) },
    ...openDataErrors,
    '400': error(
      'invalid_request (also: the token is not a mini-program session), invalid_grant (the code is unknown, expired or used: ask the user again), decrypt_failed, or invalid_open_data.',
    ),
    '403': error("access_denied: WeChat's risk control refused the user."),
    '429': error('rate_limited (ours, or WeChat 45011); see Retry-After.'),
    ...upstreamErrors,
  },
});

const userInfoRoute = declareRoute({
  method: 'post',
  path: '/wechat/user-info',
  auth: 'bearer',
  summary: 'Decrypt user info; checks signature = sha1(rawData + session_key) when given',
  body: z
    .object({
      encryptedData,
      iv,
      rawData: z
        .string({ error: 'must be a string (e.detail.rawData)' })
        .max(RAW_DATA_MAX_CHARS, `must be at most ${RAW_DATA_MAX_CHARS} characters`)
        .meta({ description: 'e.detail.rawData; sent together with signature' })
        .optional(),
      signature: z
        .string({ error: 'must be a string (e.detail.signature)' })
        .regex(SHA1_HEX, 'must be the 40 hexadecimal characters of a sha1')
        .meta({ description: 'e.detail.signature: sha1(rawData + session_key), hex' })
        .optional(),
    })
    .meta({
      ...sealed,
      examples: [
        {
          ...sealedExample,
          rawData: '{"nickName":"微信用户","gender":0,"avatarUrl":""}',
          signature: '75e81ceda165f4ffa64f4068af58c64b8f54b88c',
        },
      ],
    }),
  responses: {
    '200': { description: 'The user info, watermark removed', content: json(ref('OpenData')) },
    ...openDataErrors,
  },
});

const decryptRoute = declareRoute({
  method: 'post',
  path: '/wechat/decrypt',
  auth: 'bearer',
  summary: 'Decrypt any open data (share info, WeRun…)',
  body: OpenDataBody,
  responses: {
    '200': { description: 'The decrypted object, watermark removed', content: json(ref('OpenData')) },
    ...openDataErrors,
  },
});

/** GET /wechat/session's answer. */
const SessionKeyAnswer = z.object({ session_key_valid: z.boolean() });

const sessionKeyRoute = declareRoute({
  method: 'get',
  path: '/wechat/session',
  auth: 'bearer',
  summary: 'Whether WeChat still holds the stored session_key (checkSessionKey)',
  description:
    'false: the phone called wx.login() since the last POST /auth/login, so open data it sends no longer decrypts here.',
  responses: {
    '200': {
      description: 'Answer',
      content: json(answerSchemaOf(SessionKeyAnswer)),
    },
    '400': error(
      "invalid_request: not a mini-program session (a mobile App's session has no session_key), or an app no longer served.",
    ),
    ...bearerOrLoginRequired,
    '429': error('rate_limited; see Retry-After.'),
    ...upstreamErrors,
    ...storeErrors,
  },
});

/** The declarations of wechatRoutes, for the OpenAPI document. */
export const WECHAT_ROUTES = [phoneNumberRoute, userInfoRoute, decryptRoute, sessionKeyRoute];

export interface WechatRouteDeps {
  openData: OpenData;
  access: AccessTokens;
  /** Rate limits: `ip` run before the token is checked, `user` after (they count by its subject). */
  limits: { ip: Middleware<BearerState>[]; user: Middleware<BearerState>[] };
}

/** Open data and WeChat's server APIs for the token's subject: parse, one call, answer. */
export function wechatRoutes(router: Router<BearerState>, deps: WechatRouteDeps): void {
  const { openData, access, limits } = deps;
  const mount = mounter(router, { bearer: bearer(access) });
  const guards = { before: [noStore, ...limits.ip], after: limits.user };

  mount(phoneNumberRoute, guards, async function answerPhoneNumber(ctx, { body }) {
    ctx.body = await openData.phoneNumber(callerOf(ctx.state.subject), body, ctx.state.log);
  });

  mount(userInfoRoute, guards, async function answerUserInfo(ctx, { body }) {
    ctx.body = await openData.userInfo(callerOf(ctx.state.subject), body, ctx.state.log);
  });

  mount(decryptRoute, guards, async function answerOpenData(ctx, { body }) {
    ctx.body = await openData.decrypt(callerOf(ctx.state.subject), body, ctx.state.log);
  });

  mount(sessionKeyRoute, guards, async function askWechatWhetherSessionKeyLives(ctx) {
    const answer: z.infer<typeof SessionKeyAnswer> = {
      session_key_valid: await openData.sessionKeyValid(callerOf(ctx.state.subject)),
    };
    ctx.body = answer;
  });
}

/** The token's subject and app, as the open-data flow asks them. */
function callerOf(subject: { sub: string; clientId: string | undefined }): OpenDataCaller {
  return { openid: subject.sub, appid: subject.clientId };
}
