import type { Router } from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import { POLL_STATUSES, TICKET_PATTERN, TICKET_SHAPE, type WebLogin } from '../../auth/web-login.js';
import { InvalidRequest } from '../../errors/index.js';
import type { AccessTokens } from '../../tokens/index.js';
import { type BearerState, bearer } from '../middleware/bearer.js';
import { readBody, stringField } from '../middleware/body.js';
import { noStore } from '../middleware/no-store.js';

const PollBody = z.object({
  poll_token: stringField('the poll_token of POST /auth/qr').min(1).max(128, 'is too long to be one of ours'),
  // A form-encoded body carries the number as text.
  wait: z
    .preprocess(
      (value) => (typeof value === 'string' && /^\d{1,6}$/.test(value) ? Number(value) : value),
      z.number({ error: 'must be a number of seconds (0 to 25)' }).min(0, 'must be 0 or more seconds'),
    )
    .optional(),
  status: z
    .enum(POLL_STATUSES as [string, ...string[]], {
      error: `must be the status the last poll answered (${POLL_STATUSES.join(', ')})`,
    })
    .optional(),
});

const ConfirmBody = z.object({ match: z.unknown().optional() });

export interface QrRouteDeps {
  webLogin: WebLogin;
  access: AccessTokens;
  /** The client's address, as every limit and log line takes it. */
  address(ctx: Context): string;
  /** Run before a ticket is made (it costs a call on WeChat's quota). */
  limits: { create: Middleware[] };
}

/** Web login by scanning a mini-program code: the website's routes and the mini-program's. */
export function qrRoutes(router: Router<BearerState>, deps: QrRouteDeps): void {
  const { webLogin, access, address, limits } = deps;
  const requireAccessToken = bearer(access);

  router.post('/auth/qr', noStore, ...limits.create, async function startWebLogin(ctx) {
    ctx.body = await webLogin.start({ address: address(ctx), userAgent: ctx.get('User-Agent') });
  });

  router.post('/auth/qr/:ticket/scan', noStore, requireAccessToken, async function scanWebLogin(ctx) {
    ctx.body = await webLogin.scan(ticketOf(ctx), ctx.state.subject.sub);
  });

  router.post('/auth/qr/:ticket/confirm', noStore, requireAccessToken, async function confirmWebLogin(ctx) {
    const ticket = ticketOf(ctx);
    // Not a shape error but a wrong pick: whatever is not the match ends the ticket (number matching).
    const { match } = readBody(ctx, ConfirmBody);
    const { sub, sid } = ctx.state.subject;
    await webLogin.confirm(ticket, {
      openid: sub,
      sid,
      match: typeof match === 'string' ? match : undefined,
    });
    ctx.status = 204;
  });

  router.post('/auth/qr/:ticket/cancel', noStore, requireAccessToken, async function cancelWebLogin(ctx) {
    await webLogin.cancel(ticketOf(ctx), ctx.state.subject.sub);
    ctx.status = 204;
  });

  router.post('/auth/qr/:ticket/poll', noStore, async function pollWebLogin(ctx) {
    const ticket = ticketOf(ctx);
    const body = readBody(ctx, PollBody);
    // A browser that went away (a closed tab, a proxy's timeout) must not be handed the tokens.
    const gone = new AbortController();
    ctx.res.once('close', () => gone.abort());
    ctx.body = await webLogin.poll(ticket, body.poll_token, {
      waitS: body.wait ?? 0,
      seen: body.status as (typeof POLL_STATUSES)[number] | undefined,
      signal: gone.signal,
    });
  });
}

function ticketOf(ctx: Context): string {
  const ticket = (ctx.params as { ticket?: string }).ticket ?? '';
  if (!TICKET_PATTERN.test(ticket)) throw new InvalidRequest(`ticket: must be ${TICKET_SHAPE}.`);
  return ticket;
}
