import { Router } from '@koa/router';
import Koa from 'koa';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import type { Clock } from '../lib/index.js';
import type { SessionStore } from '../store/index.js';
import { createAccessTokens, createSessions, type KeySet } from '../tokens/index.js';
import type { WechatClient } from '../wechat/index.js';
import type { BearerState } from './middleware/bearer.js';
import { bodyReader } from './middleware/body.js';
import { errorResponder } from './middleware/errors.js';
import { requestContext } from './middleware/request-context.js';
import { authRoutes } from './routes/auth.js';
import { healthRoutes } from './routes/health.js';

export interface AppDeps {
  store: SessionStore;
  wechat: WechatClient;
  keys: KeySet;
  clock: Clock;
  logger: Logger;
}

/** The one composition root. Creates nothing global: every collaborator comes in through `deps`. */
export function createApp(config: Config, deps: AppDeps): Koa {
  const { store, wechat, keys, clock, logger } = deps;
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
  healthRoutes(router, { keys, store });
  authRoutes(router, { wechat, sessions, access });

  app.use(requestContext(logger));
  app.use(errorResponder());
  app.use(bodyReader(config.http.bodyLimitBytes));
  app.use(router.routes());
  app.use(router.allowedMethods({ throw: true }));
  return app;
}
