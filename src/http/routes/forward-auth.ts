import { Router } from '@koa/router';
import type { Middleware } from 'koa';
import type { AccessTokens } from '../../tokens/index.js';
import { type BearerState, bearer } from '../middleware/bearer.js';

/** Every method a gateway may send: nginx's auth_request keeps the client's own. */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/**
 * Forward auth for gateways (nginx auth_request, Traefik ForwardAuth, Caddy forward_auth, Envoy
 * ext_authz): 200 with the subject in headers, or the 401 of every Bearer route. It verifies as
 * /auth/me does (the same middleware and verified-token cache, no store) and reads no body, so it is
 * mounted ahead of the body reader: a gateway's body, of any size or type, is never parsed.
 */
export function forwardAuthRoutes(access: AccessTokens): Middleware {
  const router = new Router<BearerState>({ strict: true, sensitive: true });
  router.register('/auth/verify', METHODS, [
    bearer(access),
    function allowRequest(ctx) {
      ctx.set('Cache-Control', 'no-store');
      ctx.set('X-Openid', ctx.state.subject.sub);
      if (ctx.state.subject.sid !== undefined) ctx.set('X-Session-Id', ctx.state.subject.sid);
      ctx.status = 200;
      ctx.body = '';
    },
  ]);
  return router.routes() as Middleware;
}
