import { createHash, timingSafeEqual } from 'node:crypto';
import { Router } from '@koa/router';
import Koa, { type Middleware } from 'koa';
import { z } from 'zod';
import { AccountView } from '../auth/accounts.js';
import { type AdminKeySetting, adminKeyDigest, type Config } from '../config/index.js';
import { AccessDenied, AppError, InvalidRequest, InvalidToken, NotFound } from '../errors/index.js';
import { epochSeconds, OPENID_PATTERN, OPENID_SHAPE } from '../lib/index.js';
import { error, json } from './answers.js';
import { type AppDeps, accountsOf } from './app.js';
import { answerSchemaOf, declareRoute, mounter } from './declare.js';
import { bodyReader } from './middleware/body.js';
import { errorResponder } from './middleware/errors.js';
import { type FailureRateLimit, failureRateLimit } from './middleware/rate-limit.js';
import { requestContext } from './middleware/request-context.js';
import { createRequestLog } from './request-log.js';
import type { RequestState } from './state.js';

/** An admin key as it is checked: the SHA-256 of the key, and the short id log lines name it by. */
interface AdminKey {
  digest: Buffer;
  id: string;
  /** GET routes only. */
  readOnly: boolean;
}

interface AdminState extends RequestState {
  /** The short id of the key the request carried. */
  adminKey: string;
}

/** What the admin API needs of the service's collaborators (no WeChat, no signing keys). */
export type AdminDeps = Pick<AppDeps, 'store' | 'apps' | 'clock' | 'logger' | 'metrics' | 'rateLimitBackend'>;

/** The latest `until` accepted: 9999-12-31T23:59:59Z. */
const LATEST_UNTIL_S = 253_402_300_799;

const OpenidParams = z.object({
  openid: z
    .string()
    .regex(OPENID_PATTERN, `must be ${OPENID_SHAPE}`)
    .meta({
      description: "Any openid of the person (in any app), or the person's unionid.",
      examples: ['o6_bmjrPTlm6_2sgVt7hMZOPfL2M'],
    }),
});

/** Every admin route may answer these: the key, the openid, the user, the store. */
const adminErrors = {
  '400': error('invalid_request: a malformed openid or unionid (or body).'),
  '401': error('invalid_token: no admin key, or a wrong one (counted per address).'),
  '403': error('access_denied: a read-only key, on a route that changes something.'),
  '404': error(
    'not_found: this service knows no person of that openid or unionid (no record, no ban and no live session).',
  ),
  '429': error('rate_limited: too many wrong keys from this address; see Retry-After.'),
  '503': error('The store (Redis) is unreachable; retry after Retry-After.'),
};

const lookUpRoute = declareRoute({
  method: 'get',
  path: '/admin/users/{openid}',
  auth: 'admin',
  summary: 'The person as support sees them (every identity, every app), never a session_key',
  params: OpenidParams,
  responses: {
    '200': {
      description:
        'first_login_at and last_login_at are null once the account was deleted (a ban outlives it)',
      content: json(answerSchemaOf(AccountView)),
    },
    ...adminErrors,
  },
});

const logoutRoute = declareRoute({
  method: 'post',
  path: '/admin/users/{openid}/logout',
  auth: 'admin',
  summary: 'Log the person out everywhere: every session of every identity, in every app',
  params: OpenidParams,
  responses: { '204': { description: 'Every session ended, its tokens refused at once' }, ...adminErrors },
});

const banRoute = declareRoute({
  method: 'put',
  path: '/admin/users/{openid}/ban',
  auth: 'admin',
  summary:
    'Ban the person: every session of every app ends at once, and login answers 403 access_denied until lifted or until; an identity that joins them later by unionid is banned as it links',
  params: OpenidParams,
  body: z
    .object({
      reason: z.string().max(200, 'must be at most 200 characters').optional(),
      until: z
        .number({ error: 'must be a number: epoch seconds' })
        .int('must be whole epoch seconds')
        .max(LATEST_UNTIL_S, 'is too far ahead')
        .meta({ description: 'Epoch seconds in the future; absent: until lifted.' })
        .optional(),
    })
    // A misspelt `until` must not make a ban permanent.
    .strict()
    .meta({ examples: [{ reason: 'spam', until: 1_924_992_000 }] }),
  form: false,
  responses: { '204': { description: 'Banned' }, ...adminErrors },
});

const liftBanRoute = declareRoute({
  method: 'delete',
  path: '/admin/users/{openid}/ban',
  auth: 'admin',
  summary: "Lift the person's ban (and each identity's)",
  params: OpenidParams,
  responses: { '204': { description: 'The ban lifted' }, ...adminErrors },
});

const deleteRoute = declareRoute({
  method: 'delete',
  path: '/admin/users/{openid}',
  auth: 'admin',
  summary: "Delete the person's data in every app, as DELETE /auth/account does; a ban stays",
  params: OpenidParams,
  responses: { '204': { description: 'Deleted' }, ...adminErrors },
});

/** The admin API's declarations: its reference table comes from them (not in /openapi.json, the public port's). */
export const ADMIN_ROUTES = [lookUpRoute, logoutRoute, banRoute, liftBanRoute, deleteRoute];

/** Digests of ADMIN_API_KEYS: a plain key is hashed here, `sha256:<hex>` is taken as the digest. */
function adminKeys(keys: readonly AdminKeySetting[]): AdminKey[] {
  return keys.map(({ key, readOnly }) => {
    const digest = adminKeyDigest(key);
    return { digest, id: digest.toString('hex').slice(0, 8), readOnly };
  });
}

/**
 * The admin API, for its own listener (ADMIN_HOST:ADMIN_PORT, never the public port): look a user up,
 * log them out everywhere, ban and lift a ban, delete. Every request carries an admin key; wrong ones
 * are counted per address, right ones never, so a flood of wrong keys cannot lock the operators out.
 * Every action writes one log line naming the key by its id.
 */
export function createAdminApp(config: Config, deps: AdminDeps): Koa {
  if (config.admin === undefined) throw new Error('createAdminApp: ADMIN_API_KEYS is not set');
  const { logger, metrics, clock } = deps;
  const keys = adminKeys(config.admin.keys);
  const accounts = accountsOf(deps);

  const app = new Koa();
  app.silent = true;
  const router = new Router<AdminState>({ strict: true, sensitive: true });
  // The admin key is checked ahead of the router, for every request (authenticate, below).
  const mount = mounter(router, {});

  mount(lookUpRoute, {}, async function lookUpUser(ctx, { params }) {
    const account = await accounts.lookup(params.openid);
    if (account === null) throw unknown();
    ctx.set('Cache-Control', 'no-store');
    ctx.body = account;
  });

  mount(logoutRoute, {}, async function logOutEverywhere(ctx, { params }) {
    if (!(await accounts.logoutEverywhere(params.openid))) throw unknown();
    ctx.status = 204;
  });

  mount(banRoute, {}, async function banUser(ctx, { params, body }) {
    const { openid } = params;
    const { reason, until } = body;
    if (until !== undefined && until <= epochSeconds(clock.now())) {
      throw new InvalidRequest(
        'until: must be in the future (epoch seconds); omit it for a ban until lifted.',
      );
    }
    const ban = { ...(reason ? { reason } : {}), ...(until === undefined ? {} : { untilMs: until * 1000 }) };
    if (!(await accounts.ban(openid, ban))) throw unknown();
    ctx.status = 204;
  });

  mount(liftBanRoute, {}, async function liftBan(ctx, { params }) {
    if (!(await accounts.liftBan(params.openid))) throw unknown();
    ctx.status = 204;
  });

  mount(deleteRoute, {}, async function deleteUser(ctx, { params }) {
    if (!(await accounts.remove(params.openid))) throw unknown();
    ctx.status = 204;
  });

  app.use(requestContext(logger, createRequestLog(logger, metrics)));
  app.use(async function countAdminAction(ctx, next) {
    try {
      await next();
    } finally {
      metrics.observeAdminAction(
        (ctx as { _matchedRoute?: string })._matchedRoute ?? 'unmatched',
        ctx.status,
      );
    }
  });
  const methods = [...new Set(router.stack.flatMap((layer) => layer.methods))];
  app.use(errorResponder(metrics, { methods }));
  app.use(
    authenticate(keys, failureRateLimit('admin_ip', config.rateLimits.adminPerIp, deps.rateLimitBackend)),
  );
  app.use(auditLine());
  app.use(bodyReader(config.http.bodyLimitBytes));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

/**
 * Bearer <admin key>, its SHA-256 compared with every key's in constant time. A missing or wrong key
 * counts against the address (429 once over the limit); a read-only key may only GET.
 */
function authenticate(keys: AdminKey[], failures: FailureRateLimit): Middleware<AdminState> {
  return async function requireAdminKey(ctx, next) {
    // The socket's address: the admin listener is for operators, not behind the public proxies.
    const address = String(ctx.req.socket.remoteAddress);
    const match = /^Bearer +(\S+) *$/i.exec(ctx.get('Authorization'));
    if (match === null) {
      await failures.failed(ctx, address);
      throw new InvalidToken('Send an admin key as Authorization: Bearer <key>.', { missing: true });
    }
    const digest = createHash('sha256').update(match[1]!, 'utf8').digest();
    let found: AdminKey | undefined;
    // Every key is compared, so how long it takes says nothing about which one (nearly) matched.
    for (const key of keys) if (timingSafeEqual(digest, key.digest) && found === undefined) found = key;
    if (found === undefined) {
      await failures.failed(ctx, address);
      ctx.state.log.warn({ event: 'admin_key_refused' }, 'admin request with a wrong key');
      throw new InvalidToken('That is not an admin key of this service.');
    }
    ctx.state.adminKey = found.id;
    if (found.readOnly && ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.state.log.warn(
        { event: 'admin_key_read_only', key: found.id, action: `${ctx.method} ${ctx.path}` },
        'admin request with a read-only key refused: it may only look up',
      );
      throw new AccessDenied('This admin key is read-only: GET routes only.');
    }
    await next();
  };
}

/** One line per action: which key, what, on whom, and how it ended. Never the key itself. */
function auditLine(): Middleware<AdminState> {
  return async function logAdminAction(ctx, next) {
    let status: number | undefined;
    try {
      await next();
      status = ctx.status;
    } catch (error) {
      status = error instanceof AppError ? error.status : 500;
      throw error;
    } finally {
      const route = (ctx as { _matchedRoute?: string })._matchedRoute;
      if (route !== undefined) {
        ctx.state.log.info(
          {
            event: 'admin_action',
            key: ctx.state.adminKey,
            action: `${ctx.method} ${route}`,
            openid: ctx.params?.openid,
            status,
          },
          'admin action',
        );
      }
    }
  };
}

function unknown(): NotFound {
  return new NotFound('This service knows no user of that openid (never logged in, or deleted).');
}
