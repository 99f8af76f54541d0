import type { Router } from '@koa/router';
import type { Middleware } from 'koa';
import { z } from 'zod';
import { type Accounts, SessionView } from '../../auth/accounts.js';
import type { AccessTokens } from '../../tokens/index.js';
import { bearerErrors, endingsLimited, json, ref, storeErrors } from '../answers.js';
import { declareRoute, mounter } from '../declare.js';
import { type BearerState, bearer } from '../middleware/bearer.js';

/** GET /auth/sessions's answer: the document's Sessions. */
export const SessionsAnswer = z.object({
  sessions: z
    .array(
      SessionView.extend({
        current: z.boolean().meta({ description: 'The session of the presented access token.' }),
      }),
    )
    .meta({ description: 'Newest login first.' }),
});
export type SessionsAnswer = z.infer<typeof SessionsAnswer>;

const listSessionsRoute = declareRoute({
  method: 'get',
  path: '/auth/sessions',
  auth: 'bearer',
  summary: "The caller's sessions (logins) in every app, newest first",
  description:
    "The person's: the sessions of each identity WeChat gave the same unionid (one openid per app), each with the app it was opened through.",
  responses: {
    '200': { description: 'The sessions', content: json(ref('Sessions')) },
    ...storeErrors,
    ...bearerErrors,
  },
});

const endSessionRoute = declareRoute({
  method: 'delete',
  path: '/auth/sessions/{id}',
  auth: 'bearer',
  summary:
    "End one session of the caller's, in any of their apps: its access tokens are refused at once, on every instance",
  params: z.object({
    id: z.string().meta({
      description: "A session id from GET /auth/sessions (an access token's sid).",
      examples: ['Jd9QhV3mXk2LpR7sTz4wNa'],
    }),
  }),
  responses: {
    '204': { description: "Ended; also for an id that is unknown, ended or another person's" },
    ...storeErrors,
    ...bearerErrors,
    ...endingsLimited,
  },
});

const deleteAccountRoute = declareRoute({
  method: 'delete',
  path: '/auth/account',
  auth: 'bearer',
  summary:
    "Delete everything kept about the caller (注销), in every app: each identity's record and session_key, every session, per-user counters",
  description:
    "The person's: every identity WeChat gave the same unionid. Every access token of theirs, of every app, is refused at once. A later login starts afresh; a ban stays.",
  responses: {
    '204': { description: 'Deleted' },
    ...storeErrors,
    ...bearerErrors,
    ...endingsLimited,
  },
});

/** The declarations of sessionRoutes, for the OpenAPI document. */
export const SESSION_ROUTES = [listSessionsRoute, endSessionRoute, deleteAccountRoute];

export interface SessionRouteDeps {
  accounts: Accounts;
  access: AccessTokens;
  /** `endings`: per user, after the Bearer check, shared with POST /auth/logout. */
  limits: { endings: Middleware<BearerState>[] };
}

/** The caller's own sessions and account, by their access token. */
export function sessionRoutes(router: Router<BearerState>, deps: SessionRouteDeps): void {
  const { accounts, access, limits } = deps;
  const mount = mounter(router, { bearer: bearer(access) });

  mount(listSessionsRoute, {}, async function listSessions(ctx) {
    const { sub, sid } = ctx.state.subject;
    const sessions = await accounts.sessions(sub);
    ctx.set('Cache-Control', 'no-store');
    const answer: SessionsAnswer = {
      sessions: sessions.map((session) => ({ ...session, current: session.id === sid })),
    };
    ctx.body = answer;
  });

  mount(endSessionRoute, { after: limits.endings }, async function endSession(ctx, { params }) {
    await accounts.endSession(ctx.state.subject.sub, params.id);
    ctx.status = 204;
  });

  mount(deleteAccountRoute, { after: limits.endings }, async function deleteAccount(ctx) {
    await accounts.deleteAccount(ctx.state.subject.sub);
    ctx.status = 204;
  });
}
