import { IncomingMessage, ServerResponse } from 'node:http';
import { Router } from '@koa/router';
import Koa from 'koa';
import type { Logger } from 'pino';
import { type Accounts, createAccounts } from '../auth/accounts.js';
import { createLogin, createOAuth, createOpenData, createWebLogin } from '../auth/index.js';
import type { AppDirectory } from '../config/apps.js';
import type { Config } from '../config/index.js';
import type { EmulatorControl } from '../emulator/index.js';
import { InvalidRequest } from '../errors/index.js';
import type { Clock } from '../lib/index.js';
import type { Metrics } from '../metrics/index.js';
import type { SessionStore } from '../store/index.js';
import {
  createAccessTokens,
  createIdTokens,
  createRevocations,
  createSessions,
  type KeySet,
  parseRefreshToken,
} from '../tokens/index.js';
import type { WechatClient } from '../wechat/index.js';
import { type BearerLane, bearerLane } from './bearer-lane.js';
import { clientAddresses } from './client-address.js';
import type { BearerState } from './middleware/bearer.js';
import { bodyReader } from './middleware/body.js';
import { errorResponder } from './middleware/errors.js';
import {
  confirmedRateLimit,
  forgetUserCounters,
  type RateLimitBackend,
  rateLimit,
} from './middleware/rate-limit.js';
import { requestContext } from './middleware/request-context.js';
import { createRequestLog } from './request-log.js';
import { authRoutes } from './routes/auth.js';
import { demoRoutes, withDemoCallback } from './routes/demo.js';
import { forwardAuthRoutes } from './routes/forward-auth.js';
import { healthRoutes } from './routes/health.js';
import { oauthCors, oauthRoutes } from './routes/oauth.js';
import { qrRoutes } from './routes/qr.js';
import { sessionRoutes } from './routes/sessions.js';
import { wechatRoutes } from './routes/wechat.js';

export interface AppDeps {
  store: SessionStore;
  /** The WeChat apps served. */
  apps: AppDirectory;
  /** Each app's WeChat client, by appid. */
  wechat: ReadonlyMap<string, WechatClient>;
  /**
   * WeChat's browser login pages (/connect/oauth2/authorize, /connect/qrconnect); default
   * config.wechat.openBase (buildDeps gives the emulator's URL in emulator mode).
   */
  openBase?: string | undefined;
  keys: KeySet;
  clock: Clock;
  logger: Logger;
  /** Where rate-limit counters live; undefined: this process's memory (the embedded mode). */
  rateLimitBackend?: RateLimitBackend;
  /** The WeChat client reports to the same registry (buildDeps wires both). */
  metrics: Metrics;
  /** The embedded emulator buildDeps started, if any: then /demo plays the phone with it. */
  emulator?: EmulatorControl | undefined;
  /** Aborted when the process begins to shut down (server.ts): long polls answer at once then. */
  stopping?: AbortSignal | undefined;
}

/** The one composition root. Creates nothing global: every collaborator comes in through `deps`. */
export function createApp(config: Config, deps: AppDeps): Koa {
  const { store, wechat, keys, clock, logger } = deps;
  // The demo signs in by redirect too: its callback is a redirect URI of the zero-config browser apps.
  const demo = deps.emulator !== undefined && config.env !== 'production';
  const apps = demo ? withDemoCallback(deps.apps, config.publicUrl) : deps.apps;
  const { metrics } = deps;
  const revocations = createRevocations({
    store,
    clock,
    logger,
    // Until every token a revocation refuses has expired, here too if this host's clock lags the issuer's.
    windowMs: (config.tokens.accessTtlS + config.tokens.clockToleranceS + CLOCK_SKEW_MARGIN_S) * 1000,
    onBlind: (seconds) => metrics.observeRevocationBlind(seconds),
    onCatchUpFailure: () => metrics.observeRevocationCatchUpFailure(),
  });
  const access = createAccessTokens({
    keys,
    clock,
    issuer: config.tokens.issuer,
    audience: config.tokens.audience,
    // Tokens of sessions from before several apps are the first mini-program's.
    clientId: apps.legacy.appid,
    // JWT_AUDIENCE too: tokens issued before several apps carry it whatever the first app's audience is now.
    acceptedAudiences: [...new Set([config.tokens.audience, ...apps.audiences])],
    ttlS: config.tokens.accessTtlS,
    clockToleranceS: config.tokens.clockToleranceS,
    revocations,
  });
  const sessions = createSessions({
    store,
    access,
    apps,
    clock,
    logger,
    onTokenEvent: (event, count) => metrics.observeToken(event, count),
    onRevoked: (cause, count) => metrics.observeRevocation(cause, count),
    policy: {
      refreshTtlS: config.tokens.refreshTtlS,
      refreshMaxLifetimeS: config.tokens.refreshMaxLifetimeS,
      reuseGraceS: config.tokens.reuseGraceS,
      maxSessions: config.tokens.maxSessionsPerUser,
    },
  });

  // Once per deployment, in the background: identities of the one-app version join their persons.
  sessions
    .linkUpgraded()
    .catch((error: unknown) =>
      logger.warn(
        { event: 'identities_link_failed', reason: (error as Error).message },
        'linking identities from before several apps failed; the next start tries again',
      ),
    );

  const requests = createRequestLog(logger, metrics);
  // No `proxy` option: Koa would take the leftmost X-Forwarded-For entry, the client's own writing.
  const app = new Service(bearerLane(access, requests), logger);
  // Koa's own error printing would write stacks to stderr; errorResponder logs instead.
  app.silent = true;
  // Exact paths only (no other case, no trailing slash), so that rules on paths in front hold.
  const router = new Router<BearerState>({ strict: true, sensitive: true });
  healthRoutes(router, {
    keys,
    ready: () => store.ping(),
    revocationsRead: () => revocations.ready,
    metrics,
    serveMetrics: config.metrics.onPublicPort,
  });
  const limits = config.rateLimits;
  const backend = deps.rateLimitBackend;
  const client = clientAddresses({ trustedHops: config.http.trustProxy, logger });
  const refreshesPerUser = confirmedRateLimit(
    'refresh_user',
    limits.refreshPerUser,
    backend,
    refreshTokenOwner,
  );
  // One counter for the three routes that end sessions (each ending is a write every instance hears
  // of), per session of the user: someone holding one of the user's sessions (a stolen token) must not
  // use up the allowance of the user's own session, whose logout everywhere is the remedy against them.
  const endingsPerUser = [
    rateLimit('endings_session', limits.endingsPerUser, backend, (ctx) => {
      const subject = ctx.state.subject;
      return subject === undefined ? undefined : `${subject.sub}:${subject.sid ?? '-'}`;
    }),
  ];
  oauthRoutes(router, {
    publicUrl: config.publicUrl,
    issuer: config.tokens.issuer,
    keys,
    access,
    // The browser login of official accounts and websites, on the same Sessions as every other login:
    // no second token system (see auth/oauth.ts for why not oidc-provider).
    oauth: createOAuth({
      apps,
      wechat,
      store,
      sessions,
      idTokens: createIdTokens({ keys, clock, issuer: config.tokens.issuer, ttlS: config.tokens.accessTtlS }),
      clock,
      logger,
      issuer: config.tokens.issuer,
      publicUrl: config.publicUrl,
      openBase: deps.openBase ?? config.wechat.openBase,
      onRevoked: (count) => metrics.observeRevocation('reuse', count),
    }),
    limits: {
      // Each authorization request is a login started; each token request a login or a refresh.
      browser: [rateLimit('login_ip', limits.loginPerIp, backend, client.bucket)],
      token: [rateLimit('refresh_ip', limits.refreshPerIp, backend, client.bucket), refreshesPerUser.check],
      refreshed: refreshesPerUser.record,
    },
  });
  authRoutes(router, {
    login: createLogin({
      wechat,
      store,
      sessions,
      logger,
      windowMs: config.loginRetryWindowS * 1000,
      // A duplicate waits as long as the first exchange may take, then asks WeChat itself.
      waitMs: config.wechat.timeoutMs + 1000,
    }),
    sessions,
    access,
    apps,
    limits: {
      login: [rateLimit('login_ip', limits.loginPerIp, backend, client.bucket)],
      refresh: [rateLimit('refresh_ip', limits.refreshPerIp, backend, client.bucket), refreshesPerUser.check],
      refreshed: refreshesPerUser.record,
      endings: endingsPerUser,
    },
  });
  wechatRoutes(router, {
    openData: createOpenData({ apps, wechat, store }),
    access,
    limits: {
      ip: [rateLimit('wechat_ip', limits.wechatPerIp, backend, client.bucket)],
      user: [rateLimit('wechat_user', limits.wechatPerUser, backend, (ctx) => ctx.state.subject?.sub)],
    },
  });
  sessionRoutes(router, { accounts: accountsOf(deps), access, limits: { endings: endingsPerUser } });
  qrRoutes(router, {
    webLogin: createWebLogin({
      wechat: qrLoginClient(apps, wechat),
      store: store.webLogins(),
      sessions,
      clock,
      logger,
      ...config.webLogin,
      observe: (outcome) => metrics.observeWebLogin(outcome),
      stopping: deps.stopping,
    }),
    access,
    address: client.address,
    limits: {
      // Per address first: one address's flood is refused before it spends the app's allowance.
      create: [
        rateLimit('qr_ip', limits.qrPerIp, backend, client.bucket),
        rateLimit('qr_app', limits.qrPerApp, backend, () => 'app'),
      ],
    },
  });
  // A development page: the emulator is refused in production, and so is the demo, twice over.
  if (demo && deps.emulator !== undefined) {
    demoRoutes(router, { emulator: deps.emulator });
  }

  app.use(requestContext(logger, requests));
  const methods = [...new Set(router.stack.flatMap((layer) => layer.methods))];
  app.use(errorResponder(metrics, { methods }));
  app.use(forwardAuthRoutes(access)); // reads no body: ahead of the body reader
  // Ahead of the router, so that a preflight is answered and errors carry the header too.
  app.use(oauthCors(apps));
  app.use(bodyReader(config.http.bodyLimitBytes));
  app.use(router.routes());
  // Not `throw`: the router's errors carry no Allow; errorResponder answers its bare 405 and 501.
  app.use(router.allowedMethods());
  return app;
}

/**
 * The Koa app, whose request handler first offers each request to the lane (bearer-lane.ts): what the
 * lane answers from memory never reaches the middleware; everything else goes through it as usual.
 */
class Service extends Koa {
  readonly #lane: BearerLane;
  readonly #logger: Logger;

  constructor(lane: BearerLane, logger: Logger) {
    super();
    this.#lane = lane;
    this.#logger = logger;
  }

  override callback(): ReturnType<Koa['callback']> {
    const stack = super.callback();
    const lane = this.#lane;
    const logger = this.#logger;
    return (req, res) => {
      if (!(req instanceof IncomingMessage && res instanceof ServerResponse)) return stack(req, res);
      try {
        if (lane(req, res)) return ANSWERED;
      } catch (error) {
        // It runs in Node's request event, where a throw would end the process: nothing known throws
        // there, but a fault of ours must cost one request at most. Unanswered, the stack answers it.
        logger.error({ err: error }, 'unhandled error answering from memory');
        if (res.headersSent) {
          res.destroy();
          return ANSWERED;
        }
      }
      return stack(req, res);
    };
  }
}
const ANSWERED = Promise.resolve();

/** How far instances' clocks may be apart, seconds, for how long a revocation is remembered. */
const CLOCK_SKEW_MARGIN_S = 60;

/** Users' sessions and accounts, for the public routes and the admin API alike. */
export function accountsOf(
  deps: Pick<AppDeps, 'store' | 'apps' | 'clock' | 'logger' | 'metrics' | 'rateLimitBackend'>,
): Accounts {
  return createAccounts({
    store: deps.store,
    apps: deps.apps,
    clock: deps.clock,
    logger: deps.logger,
    forgetCounters: (openid) => forgetUserCounters(deps.rateLimitBackend, openid),
    onRevoked: (cause, count) => deps.metrics.observeRevocation(cause, count),
  });
}

/** The WeChat client that draws web login's mini-program codes: QR_LOGIN_APPID's (the first mini-program). */
function qrLoginClient(
  apps: AppDirectory,
  wechat: ReadonlyMap<string, WechatClient>,
): Pick<WechatClient, 'getUnlimitedWxacode'> {
  const client = apps.qrLogin === undefined ? undefined : wechat.get(apps.qrLogin.appid);
  if (client !== undefined) return client;
  return {
    getUnlimitedWxacode: () =>
      Promise.reject(
        new InvalidRequest('Web login by scanning needs a mini-program app, and none is configured.'),
      ),
  };
}

/** The openid a presented refresh token claims, unverified: only peeked at before the store confirms it. */
function refreshTokenOwner(ctx: Koa.Context): string | undefined {
  const token = (ctx.request.body as { refresh_token?: unknown } | undefined)?.refresh_token;
  return typeof token === 'string' ? parseRefreshToken(token)?.openid : undefined;
}
