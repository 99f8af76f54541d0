import type { Router } from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import {
  MATCH_PATTERN,
  POLL_STATUSES,
  TICKET_PATTERN,
  TICKET_SHAPE,
  type WebLogin,
} from '../../auth/web-login.js';
import type { AccessTokens } from '../../tokens/index.js';
import { badRequest, bearerErrors, error, json, ref, storeErrors, upstreamErrors } from '../answers.js';
import { declareRoute, mounter } from '../declare.js';
import { type BearerState, bearer } from '../middleware/bearer.js';
import { stringField } from '../middleware/body.js';
import { noStore } from '../middleware/no-store.js';

const TicketParams = z.object({
  ticket: z
    .string()
    .regex(TICKET_PATTERN, `must be ${TICKET_SHAPE}`)
    .meta({
      description:
        "The ticket POST /auth/qr answered: the code's scene, which the mini-program page reads from options.scene.",
      examples: ['Rk3x9QmZ2pLw7TbV4nHc8A'],
    }),
});

/** The mini-program's steps refuse alike: the ticket, the store, the scanning user's token. */
const webLoginRefusals = {
  '400': error(
    'invalid_request (not a ticket), or invalid_grant: the ticket is unknown, expired, canceled, used, or scanned by another user.',
  ),
  ...storeErrors,
  ...bearerErrors,
};

const startRoute = declareRoute({
  method: 'post',
  path: '/auth/qr',
  auth: 'none',
  summary:
    'Start a web login: a ticket, its poll token and the picture of a mini-program code opening QR_LOGIN_PAGE',
  description:
    "No body. Rate-limited per client address (RATE_LIMIT_QR_PER_IP) and for the whole app (RATE_LIMIT_QR_PER_APP): each code is a call on WeChat's quota.",
  responses: {
    '200': { description: 'A new ticket', content: json(ref('WebLoginStarted')) },
    '429': error("rate_limited (ours, or WeChat's quota of codes, 45009); see Retry-After."),
    ...upstreamErrors,
    ...storeErrors,
  },
});

const scanRoute = declareRoute({
  method: 'post',
  path: '/auth/qr/{ticket}/scan',
  auth: 'bearer',
  summary: 'The mini-program scanned the code: what its confirm screen shows',
  params: TicketParams,
  responses: {
    '200': { description: "The website's request", content: json(ref('WebLoginRequest')) },
    ...webLoginRefusals,
  },
});

const confirmRoute = declareRoute({
  method: 'post',
  path: '/auth/qr/{ticket}/confirm',
  auth: 'bearer',
  summary: 'The user who scanned confirms, naming the number the website shows: the website gets a session',
  description:
    "Without `match`, or with another number than the website's, answers 400 invalid_grant and the ticket is over (the website's poll says canceled). The session opens at the poll only while the session whose token confirmed it is live.",
  params: TicketParams,
  // Not a shape to refuse but a pick to judge: whatever is not the match, or none, ends the ticket
  // (number matching), so anything passes here; the document says what the right one looks like.
  body: z
    .object({ match: z.unknown().meta({ type: 'string', pattern: MATCH_PATTERN.source }).optional() })
    .meta({ required: ['match'], examples: [{ match: '42' }] }),
  form: false,
  responses: { '204': { description: 'Confirmed' }, ...webLoginRefusals },
});

const cancelRoute = declareRoute({
  method: 'post',
  path: '/auth/qr/{ticket}/cancel',
  auth: 'bearer',
  summary: 'The user who scanned declines',
  params: TicketParams,
  responses: { '204': { description: 'Canceled' }, ...webLoginRefusals },
});

const pollRoute = declareRoute({
  method: 'post',
  path: '/auth/qr/{ticket}/poll',
  auth: 'poll_token',
  summary:
    "The website's long poll: the ticket's status, and once confirmed the tokens of one new session (the same ones again to the same poll_token within 30 s)",
  params: TicketParams,
  body: z
    .object({
      poll_token: stringField('the poll_token of POST /auth/qr')
        .min(1)
        .max(128, 'is too long to be one of ours'),
      wait: z
        .preprocess(
          // A form-encoded body carries the number as text.
          (value) => (typeof value === 'string' && /^\d{1,6}$/.test(value) ? Number(value) : value),
          z.number({ error: 'must be a number of seconds (0 to 25)' }).min(0, 'must be 0 or more seconds'),
        )
        .meta({ description: 'Seconds to wait for a change (at most 25 are waited); default 0.' })
        .optional(),
      status: z
        .enum(POLL_STATUSES, {
          error: `must be the status the last poll answered (${POLL_STATUSES.join(', ')})`,
        })
        .meta({
          description:
            'The status the last poll answered: the poll answers at once when it is no longer that (default: the status when the poll came).',
        })
        .optional(),
    })
    .meta({
      examples: [{ poll_token: 'pT8vK2mQx7Lr4Zc9Wn3Hb6Yd1Fs5Jg0Ae2Ru7Io4Kx', wait: 25, status: 'pending' }],
    }),
  responses: {
    '200': { description: 'The status (and the tokens, once)', content: json(ref('WebLoginPoll')) },
    ...badRequest,
    '400': error(
      'invalid_request, or invalid_grant: an unknown ticket, a wrong poll_token, or a ticket whose tokens were answered already.',
    ),
    ...storeErrors,
  },
});

/** The declarations of qrRoutes, for the OpenAPI document. */
export const QR_ROUTES = [startRoute, scanRoute, confirmRoute, cancelRoute, pollRoute];

export interface QrRouteDeps {
  webLogin: WebLogin;
  access: AccessTokens;
  /** The client's address, as every limit and log line takes it. */
  address(ctx: Context): string;
  /** Run before a ticket is made (it costs a call on WeChat's quota). */
  limits: { create: Middleware<BearerState>[] };
}

/** Web login by scanning a mini-program code: the website's routes and the mini-program's. */
export function qrRoutes(router: Router<BearerState>, deps: QrRouteDeps): void {
  const { webLogin, access, address, limits } = deps;
  const mount = mounter(router, { bearer: bearer(access) });

  mount(startRoute, { before: [noStore, ...limits.create] }, async function startWebLogin(ctx) {
    ctx.body = await webLogin.start({ address: address(ctx), userAgent: ctx.get('User-Agent') });
  });

  mount(scanRoute, { before: [noStore] }, async function scanWebLogin(ctx, { params }) {
    ctx.body = await webLogin.scan(params.ticket, ctx.state.subject.sub);
  });

  mount(confirmRoute, { before: [noStore] }, async function confirmWebLogin(ctx, { params, body }) {
    const { sub, sid } = ctx.state.subject;
    await webLogin.confirm(params.ticket, {
      openid: sub,
      sid,
      match: typeof body.match === 'string' ? body.match : undefined,
    });
    ctx.status = 204;
  });

  mount(cancelRoute, { before: [noStore] }, async function cancelWebLogin(ctx, { params }) {
    await webLogin.cancel(params.ticket, ctx.state.subject.sub);
    ctx.status = 204;
  });

  mount(pollRoute, { before: [noStore] }, async function pollWebLogin(ctx, { params, body }) {
    // A browser that went away (a closed tab, a proxy's timeout) must not be handed the tokens.
    const gone = new AbortController();
    ctx.res.once('close', () => gone.abort());
    ctx.body = await webLogin.poll(params.ticket, body.poll_token, {
      waitS: body.wait ?? 0,
      seen: body.status,
      signal: gone.signal,
    });
  });
}
