import { Router } from '@koa/router';
import Koa from 'koa';
import type { Logger } from 'pino';
import { createLogin, createOpenData } from '../auth/index.js';
import type { Config } from '../config/index.js';
import type { Clock } from '../lib/index.js';
import type { Metrics } from '../metrics/index.js';
import type { SessionStore } from '../store/index.js';
import { createAccessTokens, createSessions, type KeySet, parseRefreshToken } from '../tokens/index.js';
import type { WechatClient } from '../wechat/index.js';
import { clientAddresses } from './client-address.js';
import type { BearerState } from './middleware/bearer.js';
import { bodyReader } from './middleware/body.js';
import { errorResponder } from './middleware/errors.js';
import { confirmedRateLimit, type RateLimitBackend, rateLimit } from './middleware/rate-limit.js';
import { requestContext } from './middleware/request-context.js';
import { authRoutes } from './routes/auth.js';
import { healthRoutes } from './routes/health.js';
import { wechatRoutes } from './routes/wechat.js';

export interface AppDeps {
  store: SessionStore;
  wechat: WechatClient;
  keys: KeySet;
  clock: Clock;
  logger: Logger;
  /** Where rate-limit counters live; undefined: this process's memory (the embedded mode). */
  rateLimitBackend?: RateLimitBackend;
  /** The WeChat client reports to the same registry (buildDeps wires both). */
  metrics: Metrics;
}

/** The one composition root. Creates nothing global: every collaborator comes in through `deps`. */
export function createApp(config: Config, deps: AppDeps): Koa {
  const { store, wechat, keys, clock, logger } = deps;
  const { metrics } = deps;
  const access = createAccessTokens({
    keys,
    clock,
    issuer: config.tokens.issuer,
    audience: config.tokens.audience,
    ttlS: config.tokens.accessTtlS,
    clockToleranceS: config.tokens.clockToleranceS,
  });
  const sessions = createSessions({
    store,
    access,
    clock,
    logger,
    onTokenEvent: (event, count) => metrics.observeToken(event, count),
    policy: {
      refreshTtlS: config.tokens.refreshTtlS,
      refreshMaxLifetimeS: config.tokens.refreshMaxLifetimeS,
      reuseGraceS: config.tokens.reuseGraceS,
      maxSessions: config.tokens.maxSessionsPerUser,
    },
  });

  // No `proxy` option: Koa would take the leftmost X-Forwarded-For entry, the client's own writing.
  const app = new Koa();
  // Koa's own error printing would write stacks to stderr; errorResponder logs instead.
  app.silent = true;
  // Exact paths only (no other case, no trailing slash), so that rules on paths in front hold.
  const router = new Router<BearerState>({ strict: true, sensitive: true });
  healthRoutes(router, {
    keys,
    ready: () => store.ping(),
    metrics,
    serveMetrics: config.metrics.port === undefined,
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
    limits: {
      login: [rateLimit('login_ip', limits.loginPerIp, backend, client.bucket)],
      refresh: [rateLimit('refresh_ip', limits.refreshPerIp, backend, client.bucket), refreshesPerUser.check],
      refreshed: refreshesPerUser.record,
    },
  });
  wechatRoutes(router, {
    openData: createOpenData({ wechat, store }),
    access,
    limits: {
      ip: [rateLimit('wechat_ip', limits.wechatPerIp, backend, client.bucket)],
      user: [rateLimit('wechat_user', limits.wechatPerUser, backend, (ctx) => ctx.state.subject?.sub)],
    },
  });

  app.use(requestContext(logger, metrics));
  const methods = [...new Set(router.stack.flatMap((layer) => layer.methods))];
  app.use(errorResponder(metrics, { methods }));
  app.use(bodyReader(config.http.bodyLimitBytes));
  app.use(router.routes());
  // Not `throw`: the router's errors carry no Allow; errorResponder answers its bare 405 and 501.
  app.use(router.allowedMethods());
  return app;
}

/** The openid a presented refresh token claims, unverified: only peeked at before the store confirms it. */
function refreshTokenOwner(ctx: Koa.Context): string | undefined {
  const token = (ctx.request.body as { refresh_token?: unknown } | undefined)?.refresh_token;
  return typeof token === 'string' ? parseRefreshToken(token)?.openid : undefined;
}
