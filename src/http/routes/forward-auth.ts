import { Router } from '@koa/router';
import type { Middleware } from 'koa';
import type { AccessTokens } from '../../tokens/index.js';
import { FORWARD_AUTH_METHODS, verifiedHeaders } from '../bearer-lane.js';
import { type BearerState, bearer } from '../middleware/bearer.js';

/**
 * Forward auth for gateways (nginx auth_request, Traefik ForwardAuth, Caddy forward_auth, Envoy
 * ext_authz): 200 with the subject in headers, or the 401 of every Bearer route. It verifies as
 * /auth/me does (the same middleware and verified-token cache, no store) and reads no body, so it is
 * mounted ahead of the body reader: a gateway's body, of any size or type, is never parsed.
 */
export function forwardAuthRoutes(access: AccessTokens): Middleware {
  const router = new Router<BearerState>({ strict: true, sensitive: true });
  router.register('/auth/verify', FORWARD_AUTH_METHODS, [
    bearer(access),
    function allowRequest(ctx) {
      for (const [name, value] of verifiedHeaders(ctx.state.subject)) ctx.set(name, value);
      ctx.status = 200;
      ctx.body = '';
    },
  ]);
  return router.routes() as Middleware;
}
