import type { Middleware } from 'koa';
import type { AccessTokens } from '../../tokens/index.js';
import { bearerErrors } from '../answers.js';
import { FORWARD_AUTH_METHODS, FORWARD_AUTH_PATH, verifiedHeaders } from '../bearer-lane.js';
import { declareRoute, type Method } from '../declare.js';
import { type BearerState, bearer } from '../middleware/bearer.js';

/**
 * Declared for the document, one operation per method (OpenAPI's HEAD is GET's); served by the
 * middleware below rather than the router, so never mounted.
 */
export const FORWARD_AUTH_ROUTES = FORWARD_AUTH_METHODS.filter((method) => method !== 'HEAD').map((method) =>
  declareRoute({
    method: method.toLowerCase() as Method,
    path: FORWARD_AUTH_PATH,
    auth: 'bearer',
    summary: 'Forward auth for gateways: the Bearer token verified, the body ignored',
    description: `Any method (${FORWARD_AUTH_METHODS.join(', ')}), any body (never read). Verified from the token alone, as /auth/me, touching no storage. Point nginx auth_request, Traefik ForwardAuth, Caddy forward_auth or Envoy ext_authz at it.`,
    responses: {
      '200': {
        description: 'Empty body; the subject (and the app it logged in through) in headers.',
        headers: {
          'X-Openid': { description: "The token's sub.", schema: { type: 'string' } },
          'X-Session-Id': {
            description: "The token's sid (the session that issued it), when it has one.",
            schema: { type: 'string' },
          },
          'X-Client-Id': {
            description:
              "The token's client_id: the appid of the WeChat app the person logged in through; absent for a token issued before client_id existed.",
            schema: { type: 'string' },
          },
        },
      },
      ...bearerErrors,
    },
  }),
);

/**
 * Forward auth for gateways (nginx auth_request, Traefik ForwardAuth, Caddy forward_auth, Envoy
 * ext_authz): 200 with the subject in headers, or the 401 of every Bearer route. It verifies as
 * /auth/me does (the same middleware and verified-token cache, no store) and reads no body, so it is
 * mounted ahead of the body reader: a gateway's body, of any size or type, is never parsed.
 *
 * One exact path, so a comparison rather than a second router, which every other request went
 * through too. Its answers count under the route's path, as the router's would.
 */
export function forwardAuthRoutes(access: AccessTokens): Middleware<BearerState> {
  const methods = new Set(FORWARD_AUTH_METHODS);
  const requireAccessToken = bearer(access);
  const allowRequest: Middleware<BearerState> = (ctx) => {
    for (const [name, value] of verifiedHeaders(ctx.state.subject)) ctx.set(name, value);
    ctx.status = 200;
    ctx.body = '';
  };
  // Another method is answered 501 with this Allow by the error responder, as its router did before.
  const allow = FORWARD_AUTH_METHODS.join(', ');
  return function forwardAuth(ctx, next) {
    if (ctx.path !== FORWARD_AUTH_PATH) return next();
    if (!methods.has(ctx.method)) {
      ctx.set('Allow', allow);
      ctx.status = 501;
      return Promise.resolve();
    }
    (ctx as { _matchedRoute?: string })._matchedRoute = FORWARD_AUTH_PATH;
    return requireAccessToken(ctx, async () => allowRequest(ctx, next));
  };
}
