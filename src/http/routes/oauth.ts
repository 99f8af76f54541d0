import type { Router } from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { InvalidRequest } from '../../errors/index.js';
import type { KeySet } from '../../tokens/index.js';
import { json, ref } from '../answers.js';
import { declareRoute, mounter } from '../declare.js';
import type { BearerState } from '../middleware/bearer.js';

/** The discovery document: its type and, through z.toJSONSchema, the document's Discovery. */
export const Discovery = z.object({
  issuer: z.string().meta({ description: "The access tokens' iss." }),
  jwks_uri: z.url(),
  token_endpoint: z.url().meta({ description: 'POST /auth/refresh' }),
  grant_types_supported: z.array(z.literal('refresh_token')),
  response_types_supported: z.array(z.string()).optional(),
  token_endpoint_auth_methods_supported: z.array(z.literal('none')),
  subject_types_supported: z.array(z.string()).optional(),
  id_token_signing_alg_values_supported: z
    .array(z.string())
    .meta({ description: "The key set's algorithms: those the access tokens may be signed with." }),
  claims_supported: z.array(z.string()).optional(),
});
export type Discovery = z.infer<typeof Discovery>;

/** One document at both well-known paths, for verifiers that know one or the other. */
const discovery = {
  method: 'get',
  auth: 'none',
  summary:
    'Discovery metadata (RFC 8414, OpenID Connect Discovery), for verifiers configured by the issuer alone',
  responses: {
    '200': { description: 'The same document at both well-known paths', content: json(ref('Discovery')) },
  },
} as const;
const openidConfigurationRoute = declareRoute({ ...discovery, path: '/.well-known/openid-configuration' });
const authorizationServerRoute = declareRoute({
  ...discovery,
  path: '/.well-known/oauth-authorization-server',
});

/** The declarations of oauthRoutes, for the OpenAPI document (the token endpoint is POST /auth/refresh's). */
export const OAUTH_ROUTES = [openidConfigurationRoute, authorizationServerRoute];

export interface OAuthRouteDeps {
  /** PUBLIC_URL, without a trailing slash: every URL the documents give starts with it. */
  publicUrl: string;
  /** The tokens' `iss` (JWT_ISSUER, else PUBLIC_URL): verifiers compare it with the documents' `issuer`. */
  issuer: string;
  keys: KeySet;
}

/**
 * Discovery (RFC 8414, OpenID Connect Discovery) and POST /auth/refresh as an RFC 6749 token endpoint,
 * so that verifiers configure themselves from the issuer alone and OAuth client libraries can refresh.
 * Registered before the auth routes: the grant_type check runs ahead of the refresh route.
 */
export function oauthRoutes(router: Router<BearerState>, deps: OAuthRouteDeps): void {
  const { publicUrl, issuer, keys } = deps;
  const document: Discovery = {
    issuer,
    jwks_uri: `${publicUrl}/.well-known/jwks.json`,
    token_endpoint: `${publicUrl}/auth/refresh`,
    // Login is WeChat's code exchange (POST /auth/login), not an OAuth grant or authorization request:
    // there is no authorization endpoint, so no response type.
    grant_types_supported: ['refresh_token'],
    response_types_supported: [],
    token_endpoint_auth_methods_supported: ['none'],
    subject_types_supported: ['public'],
    // No ID tokens are issued; OIDC-aware verifiers read the accepted algorithms from here.
    id_token_signing_alg_values_supported: keys.algorithms,
    claims_supported: ['iss', 'aud', 'sub', 'client_id', 'iat', 'exp', 'jti', 'sid'],
  };
  const metadata = JSON.stringify(document);

  const discover = function describeIssuer(ctx: Context) {
    // As the JWKS: the algorithms change only with the key set, which a rotation publishes ahead.
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.type = 'application/json';
    ctx.body = metadata;
  };
  const mount = mounter(router, {});
  mount(openidConfigurationRoute, {}, discover);
  mount(authorizationServerRoute, {}, discover);

  router.use('/auth/refresh', async function checkGrantType(ctx, next) {
    const grant = (ctx.request.body as { grant_type?: unknown } | undefined)?.grant_type;
    if (ctx.method === 'POST' && grant !== undefined && grant !== 'refresh_token')
      throw new InvalidRequest(
        'grant_type: this token endpoint takes only grant_type=refresh_token (log in with POST /auth/login).',
      );
    await next();
  });
}
