import type { Router } from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import type { Login } from '../../auth/index.js';
import { CODE_PATTERN, CODE_SHAPE } from '../../lib/index.js';
import type { AccessTokens, Sessions } from '../../tokens/index.js';
import { ME_PATH, meBody } from '../bearer-lane.js';
import { type BearerState, bearer } from '../middleware/bearer.js';
import { readBody, stringField } from '../middleware/body.js';
import { noStore } from '../middleware/no-store.js';

const LoginBody = z.object({
  code: stringField('the code from wx.login()').regex(CODE_PATTERN, `must be ${CODE_SHAPE}`),
  // What the phone says it is, shown in the user's list of sessions.
  device: z
    .string()
    .regex(/^[^\p{C}\p{Zl}\p{Zp}]{0,64}$/u, 'must be at most 64 printable characters')
    .optional(),
});

const RefreshBody = z.object({
  refresh_token: stringField('the refresh_token of the last token response')
    .min(1, 'must not be empty')
    .max(512, 'is too long to be one of ours'),
});

const LogoutBody = z.union(
  [
    z.object({ all: z.literal(true) }),
    z.object({ refresh_token: z.string().min(1).max(512), all: z.literal(false).optional() }),
  ],
  { error: 'send {"refresh_token": "…"} to end one session or {"all": true} to end all' },
);

export interface AuthRouteDeps {
  login: Login;
  sessions: Sessions;
  access: AccessTokens;
  limits: {
    login: Middleware[];
    refresh: Middleware[];
    /** Counts a refresh for the openid the store confirmed (a forged token never counts for anyone). */
    refreshed(ctx: Context, openid: string): Promise<void>;
    /** Per user, after the Bearer check: the routes that end sessions share it. */
    endings: Middleware[];
  };
}

export function authRoutes(router: Router<BearerState>, deps: AuthRouteDeps): void {
  const { login, sessions, access, limits } = deps;
  const requireAccessToken = bearer(access);

  router.post('/auth/login', noStore, ...limits.login, async function exchangeLoginCode(ctx) {
    const { code, device } = readBody(ctx, LoginBody);
    ctx.body = await login.login(code, device);
  });

  router.post('/auth/refresh', noStore, ...limits.refresh, async function rotateRefreshToken(ctx) {
    const { refresh_token } = readBody(ctx, RefreshBody);
    const tokens = await sessions.refresh(refresh_token);
    await limits.refreshed(ctx, tokens.openid);
    ctx.body = tokens;
  });

  router.post('/auth/logout', requireAccessToken, ...limits.endings, async function endSessions(ctx) {
    const body = readBody(ctx, LogoutBody);
    const { sub: openid, sid } = ctx.state.subject;
    if ('refresh_token' in body) await sessions.logout({ openid, sid }, body.refresh_token);
    else await sessions.logoutAll(openid);
    ctx.status = 204;
  });

  router.get(ME_PATH, requireAccessToken, function whoAmI(ctx) {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = meBody(ctx.state.subject);
  });
}
