import type { Router } from '@koa/router';
import type { Middleware } from 'koa';
import type { Accounts } from '../../auth/accounts.js';
import type { AccessTokens } from '../../tokens/index.js';
import { type BearerState, bearer } from '../middleware/bearer.js';

export interface SessionRouteDeps {
  accounts: Accounts;
  access: AccessTokens;
  /** `endings`: per user, after the Bearer check, shared with POST /auth/logout. */
  limits: { endings: Middleware[] };
}

/** The caller's own sessions and account, by their access token. */
export function sessionRoutes(router: Router<BearerState>, deps: SessionRouteDeps): void {
  const { accounts, access, limits } = deps;
  const requireAccessToken = bearer(access);

  router.get('/auth/sessions', requireAccessToken, async function listSessions(ctx) {
    const { sub, sid } = ctx.state.subject;
    const sessions = await accounts.sessions(sub);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { sessions: sessions.map((session) => ({ ...session, current: session.id === sid })) };
  });

  router.delete('/auth/sessions/:id', requireAccessToken, ...limits.endings, async function endSession(ctx) {
    await accounts.endSession(ctx.state.subject.sub, ctx.params.id ?? '');
    ctx.status = 204;
  });

  router.delete('/auth/account', requireAccessToken, ...limits.endings, async function deleteAccount(ctx) {
    await accounts.deleteAccount(ctx.state.subject.sub);
    ctx.status = 204;
  });
}
