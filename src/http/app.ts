import { Router } from '@koa/router';
import Koa from 'koa';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import type { Clock } from '../lib/index.js';
import { createMetrics, type Metrics } from '../metrics/index.js';
import type { SessionStore } from '../store/index.js';
import { createAccessTokens, createSessions, type KeySet, parseRefreshToken } from '../tokens/index.js';
import { createCodeExchange, type WechatClient } from '../wechat/index.js';
import type { BearerState } from './middleware/bearer.js';
import { bodyReader } from './middleware/body.js';
import { errorResponder } from './middleware/errors.js';
import { clientAddress, type RateLimitBackend, rateLimit } from './middleware/rate-limit.js';
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
  /** Made here when absent; server.ts passes one with process metrics. */
  metrics?: Metrics;
}

/** The one composition root. Creates nothing global: every collaborator comes in through `deps`. */
export function createApp(config: Config, deps: AppDeps): Koa {
  const { store, wechat, keys, clock, logger } = deps;
  const metrics = deps.metrics ?? createMetrics();
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
    },
  });

  const app = new Koa({ proxy: config.http.trustProxy });
  // Koa's own error printing would write stacks to stderr; errorResponder logs instead.
  app.silent = true;
  const router = new Router<BearerState>();
  healthRoutes(router, { keys, store, metrics });
  const limits = config.rateLimits;
  const backend = deps.rateLimitBackend;
  authRoutes(router, {
    codes: createCodeExchange({
      wechat,
      store,
      logger,
      windowMs: config.loginRetryWindowS * 1000,
      // A duplicate waits as long as the first exchange may take, then asks WeChat itself.
      waitMs: config.wechat.timeoutMs + 1000,
    }),
    sessions,
    access,
    limits: {
      login: [rateLimit('login_ip', limits.loginPerIp, backend, clientAddress)],
      refresh: [
        rateLimit('refresh_ip', limits.refreshPerIp, backend, clientAddress),
        rateLimit('refresh_user', limits.refreshPerUser, backend, refreshTokenOwner),
      ],
    },
  });
  wechatRoutes(router, {
    wechat,
    store,
    access,
    limits: {
      ip: [rateLimit('wechat_ip', limits.wechatPerIp, backend, clientAddress)],
      user: [rateLimit('wechat_user', limits.wechatPerUser, backend, (ctx) => ctx.state.subject?.sub)],
    },
  });

  app.use(requestContext(logger, metrics));
  app.use(errorResponder(metrics));
  app.use(bodyReader(config.http.bodyLimitBytes));
  app.use(router.routes());
  app.use(router.allowedMethods({ throw: true }));
  return app;
}

/** The openid a presented refresh token claims; counted before the store is asked about it. */
function refreshTokenOwner(ctx: Koa.Context): string | undefined {
  const token = (ctx.request.body as { refresh_token?: unknown } | undefined)?.refresh_token;
  return typeof token === 'string' ? parseRefreshToken(token)?.openid : undefined;
}
