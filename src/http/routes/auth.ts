import type { Router } from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import type { Login } from '../../auth/index.js';
import type { AppDirectory, WechatApp } from '../../config/apps.js';
import { InvalidRequest } from '../../errors/index.js';
import { APPID_PATTERN, CODE_PATTERN, CODE_SHAPE } from '../../lib/index.js';
import type { AccessTokens, Sessions } from '../../tokens/index.js';
import {
  badRequest,
  bearerErrors,
  endingsLimited,
  error,
  json,
  ref,
  storeErrors,
  upstreamErrors,
} from '../answers.js';
import { ME_PATH, meBody } from '../bearer-lane.js';
import { answerSchemaOf, declareRoute, mounter } from '../declare.js';
import { type BearerState, bearer } from '../middleware/bearer.js';
import { stringField } from '../middleware/body.js';
import { noStore } from '../middleware/no-store.js';

const loginRoute = declareRoute({
  method: 'post',
  path: '/auth/login',
  auth: 'none',
  summary: "Exchange a mini-program's wx.login() code, or a mobile App's WeChat login code, for tokens",
  body: z
    .object({
      code: stringField('the code from wx.login()')
        .regex(CODE_PATTERN, `must be ${CODE_SHAPE}`)
        .meta({
          description: `The code of wx.login() (a mini-program), or of the WeChat Open SDK's SendAuth (a mobile App): ${CODE_SHAPE}.`,
        }),
      // WECHAT_APPID's own shape, looser than WeChat's `wx` + 16: an appid the apps file does not list
      // is answered in words (loginApp) rather than by a pattern.
      appid: z
        .string()
        .regex(APPID_PATTERN, 'must be an AppID such as wx1234567890abcdef')
        .meta({
          description:
            'The app the code is from (the mini-program SDK sends wx.getAccountInfoSync().miniProgram.appId). May be left out only when exactly one mini-program app is configured; a mobile App always sends it.',
        })
        .optional(),
      device: z
        .string()
        .regex(/^[^\p{C}\p{Zl}\p{Zp}]{0,64}$/u, 'must be at most 64 printable characters')
        .meta({
          description:
            "What the user's list of sessions shows for this login (the SDK sends the phone's model, system and WeChat version): printable, at most 64 characters.",
        })
        .optional(),
    })
    .meta({
      examples: [
        { code: '0a3Xk5Ga1Ke7zQ2Wv8Hc3Pq9Tn4Yu6Rd', device: 'iPhone 15 · iOS 17.4 · WeChat 8.0.47' },
      ],
    }),
  responses: {
    '200': { description: 'Token response', content: json(ref('TokenResponse')) },
    ...badRequest,
    '400': error(
      "invalid_request (an appid that is not configured or does not log in this way, none with several mini-programs, a device that is not printable or longer than 64 characters, too), or invalid_grant: the code is unknown, expired, used or another app's.",
    ),
    '403': error("access_denied: WeChat's risk control refused the user, or the user is banned here."),
    '429': error('rate_limited (ours or WeChat 45011); see Retry-After.'),
    ...upstreamErrors,
    ...storeErrors,
  },
});

const refreshRoute = declareRoute({
  method: 'post',
  path: '/auth/refresh',
  auth: 'none',
  summary: 'Rotate a refresh token (also an RFC 6749 token endpoint: grant_type=refresh_token)',
  body: z
    .object({
      refresh_token: stringField('the refresh_token of the last token response')
        .min(1, 'must not be empty')
        .max(512, 'is too long to be one of ours'),
      // Checked ahead of the rate limits by oauthRoutes, with the same words: here for the document.
      grant_type: z
        .literal('refresh_token', {
          error: 'this token endpoint takes only grant_type=refresh_token (log in with POST /auth/login)',
        })
        .meta({ description: 'Optional; any other value is invalid_request (RFC 6749 §6 form).' })
        .optional(),
    })
    .meta({
      examples: [
        { refresh_token: 'o6_bmjrPTlm6_2sgVt7hMZOPfL2M.kS4k3VrP9M0Xb7QeZt2LwA', grant_type: 'refresh_token' },
      ],
    }),
  responses: {
    '200': { description: 'A new pair', content: json(ref('TokenResponse')) },
    ...badRequest,
    '400': error('invalid_request, or invalid_grant: unknown, expired, revoked or reused token.'),
    ...storeErrors,
  },
});

const logoutRoute = declareRoute({
  method: 'post',
  path: '/auth/logout',
  auth: 'bearer',
  summary: 'End one session, or every session of the person (in every app)',
  description:
    "With refresh_token: ends the session the access token names (its sid), and that refresh token's session when it is the caller's; a refresh token that is unknown, stale or another user's ends nothing else. With all: ends every session of the person: each identity WeChat gave the same unionid, in every app.",
  body: z
    .union(
      [
        z.object({ all: z.literal(true) }),
        z.object({ refresh_token: z.string().min(1).max(512), all: z.literal(false).optional() }),
      ],
      { error: 'send {"refresh_token": "…"} to end one session or {"all": true} to end all' },
    )
    .meta({ examples: [{ all: true }] }),
  // `all: true` has no form encoding.
  form: false,
  responses: {
    '204': { description: 'Ended (idempotent; reveals nothing)' },
    ...badRequest,
    ...storeErrors,
    ...bearerErrors,
    ...endingsLimited,
  },
});

/** GET /auth/me's answer (the bearer lane writes it, as meBody; the handler below checks that type). */
const MeAnswer = z.object({
  openid: z.string(),
  unionid: z
    .string()
    .optional()
    .meta({ description: "When the token carries it: its app's `claims` include unionid." }),
  exp: z.int(),
});

const meRoute = declareRoute({
  method: 'get',
  path: ME_PATH,
  auth: 'bearer',
  summary: 'Who the access token is for (verified from the token alone)',
  responses: {
    '200': {
      description: 'The subject',
      content: json(answerSchemaOf(MeAnswer)),
    },
    ...bearerErrors,
  },
});

/** The declarations of authRoutes, for the OpenAPI document. */
export const AUTH_ROUTES = [loginRoute, refreshRoute, logoutRoute, meRoute];

export interface AuthRouteDeps {
  login: Login;
  sessions: Sessions;
  access: AccessTokens;
  apps: AppDirectory;
  limits: {
    login: Middleware<BearerState>[];
    refresh: Middleware<BearerState>[];
    /** Counts a refresh for the openid the store confirmed (a forged token never counts for anyone). */
    refreshed(ctx: Context, openid: string): Promise<void>;
    /** Per user, after the Bearer check: the routes that end sessions share it. */
    endings: Middleware<BearerState>[];
  };
}

export function authRoutes(router: Router<BearerState>, deps: AuthRouteDeps): void {
  const { login, sessions, access, limits, apps } = deps;
  const mount = mounter(router, { bearer: bearer(access) });

  mount(loginRoute, { before: [noStore, ...limits.login] }, async function exchangeLoginCode(ctx, { body }) {
    ctx.body = await login.login(body.code, loginApp(apps, body.appid), body.device);
  });

  mount(
    refreshRoute,
    { before: [noStore, ...limits.refresh] },
    async function rotateRefreshToken(ctx, { body }) {
      const tokens = await sessions.refresh(body.refresh_token);
      await limits.refreshed(ctx, tokens.openid);
      ctx.body = tokens;
    },
  );

  mount(logoutRoute, { after: limits.endings }, async function endSessions(ctx, { body }) {
    const { sub: openid, sid } = ctx.state.subject;
    if ('refresh_token' in body) await sessions.logout({ openid, sid }, body.refresh_token);
    else await sessions.logoutAll(openid);
    ctx.status = 204;
  });

  mount(meRoute, {}, function whoAmI(ctx) {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = meBody(ctx.state.subject) satisfies z.infer<typeof MeAnswer>;
  });
}

/**
 * The app a POST /auth/login names, which must log in with a code there (a mini-program or a mobile
 * App); without one, the only mini-program. Each refusal names what to send instead.
 */
function loginApp(apps: AppDirectory, appid: string | undefined): WechatApp {
  if (appid === undefined) {
    if (apps.soleMiniprogram !== undefined) return apps.soleMiniprogram;
    throw new InvalidRequest(
      'appid is required: this service serves several mini-programs (send wx.getAccountInfoSync().miniProgram.appId).',
    );
  }
  const app = apps.get(appid);
  if (app === undefined) throw new InvalidRequest(`appid ${appid} is not an app this service serves.`);
  if (app.kind !== 'miniprogram' && app.kind !== 'mobile') {
    throw new InvalidRequest(
      `appid ${appid} is a ${app.kind} app: its people log in through GET /oauth/authorize, not with a code here.`,
    );
  }
  return app;
}
