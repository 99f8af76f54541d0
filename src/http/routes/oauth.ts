import type { Router } from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import type { OAuth } from '../../auth/index.js';
import type { AppDirectory } from '../../config/apps.js';
import { InvalidRequest } from '../../errors/index.js';
import type { AccessTokens, KeySet } from '../../tokens/index.js';
import { TokenResponse } from '../../tokens/index.js';
import { bearerErrors, error, json, ref, storeErrors } from '../answers.js';
import { declareRoute, mounter } from '../declare.js';
import { type BearerState, bearer } from '../middleware/bearer.js';
import { noStore } from '../middleware/no-store.js';

/** The discovery document: its type and, through z.toJSONSchema, the document's Discovery. */
export const Discovery = z.object({
  issuer: z.string().meta({ description: "The tokens' iss." }),
  authorization_endpoint: z.url().meta({ description: 'GET /oauth/authorize' }),
  token_endpoint: z.url().meta({ description: 'POST /oauth/token (POST /auth/refresh keeps working)' }),
  userinfo_endpoint: z.url().meta({ description: 'GET /oauth/userinfo' }),
  jwks_uri: z.url(),
  scopes_supported: z.array(z.string()),
  response_types_supported: z.array(z.literal('code')),
  response_modes_supported: z.array(z.literal('query')),
  grant_types_supported: z.array(z.enum(['authorization_code', 'refresh_token'])),
  code_challenge_methods_supported: z.array(z.literal('S256')),
  token_endpoint_auth_methods_supported: z.array(z.literal('none')),
  subject_types_supported: z
    .array(z.literal('pairwise'))
    .meta({ description: 'The subject is the openid, which WeChat gives per app.' }),
  id_token_signing_alg_values_supported: z
    .array(z.string())
    .meta({ description: "The key set's algorithms: those ID and access tokens may be signed with." }),
  claims_supported: z.array(z.string()),
  authorization_response_iss_parameter_supported: z
    .boolean()
    .meta({ description: 'RFC 9207: the authorization response carries iss.' }),
  request_parameter_supported: z.boolean(),
  request_uri_parameter_supported: z
    .boolean()
    .meta({ description: 'false: OIDC Discovery takes its absence for true.' }),
});
export type Discovery = z.infer<typeof Discovery>;

/** POST /oauth/token's answer: the session's tokens and, with scope openid, an ID token. */
export const OAuthTokenAnswer = z.object({
  ...TokenResponse.omit({ is_new_user: true }).shape,
  id_token: z
    .string()
    .optional()
    .meta({ description: 'With scope openid: an OpenID Connect ID token (JWS, typ JWT).' }),
});

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

const described = (description: string, example: string) =>
  z
    .string()
    .optional()
    .meta({ description, examples: [example] });

/**
 * The page a browser gets instead of a redirect, and the redirects themselves. The query is documented
 * here but checked by the flow (auth/oauth.ts), not by the router: a bad parameter of a known client is
 * a redirect back to it with error=invalid_request (RFC 6749 §4.1.2.1), not a JSON 400.
 */
const browserAnswers = {
  '302': {
    description: 'On to WeChat, or back to the client (Location)',
    headers: { Location: { schema: { type: 'string' } } },
  },
  '400': {
    description: 'A short HTML page saying what went wrong; never a redirect',
    content: { 'text/html': { schema: { type: 'string' } } },
  },
  '429': error(
    'rate_limited: too many sign-ins from this address (RATE_LIMIT_LOGIN_PER_IP); see Retry-After.',
  ),
  ...storeErrors,
};

const authorizeRoute = declareRoute({
  method: 'get',
  path: '/oauth/authorize',
  auth: 'none',
  summary: 'OAuth 2.0 authorization endpoint (code + PKCE S256) of official account and website apps',
  description:
    "Sends the browser on to WeChat's authorization page (official account: /connect/oauth2/authorize; website: /connect/qrconnect), which comes back to /oauth/callback. A client_id that is no official_account or website app, or a redirect_uri not registered for it exactly, answers a 400 page and never redirects; any other bad parameter redirects back with error=invalid_request (or unsupported_response_type, request_not_supported, request_uri_not_supported), state and iss.",
  query: z.object({
    response_type: described('code', 'code'),
    client_id: described("The official account's or website's appid.", 'wx1234567890abcdef'),
    redirect_uri: described(
      'Exactly one of the app’s redirect_uris.',
      'https://shop.example.com/auth/callback',
    ),
    state: described('Given back with the code.', 'af0ifjsldkj'),
    code_challenge: described(
      'BASE64URL(SHA256(code_verifier)), 43 characters.',
      'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    ),
    code_challenge_method: described('S256 (plain is refused).', 'S256'),
    scope: described(
      'Space-separated: openid for an ID token; snsapi_userinfo (official account) asks WeChat for the unionid.',
      'openid snsapi_userinfo',
    ),
    nonce: described('Echoed in the ID token.', 'n-0S6_WzA2Mj'),
    prompt: described(
      'none: show the person nothing. A website answers login_required (its QR page is a page), snsapi_userinfo consent_required; an official account’s silent sign-in goes on.',
      'none',
    ),
  }),
  responses: browserAnswers,
});

const callbackRoute = declareRoute({
  method: 'get',
  path: '/oauth/callback',
  auth: 'none',
  summary: "WeChat's redirect back: on to the client's redirect_uri with a one-time code",
  description:
    "Exchanges WeChat's code (sns/oauth2/access_token, and sns/userinfo for the unionid where needed) and redirects to the client's redirect_uri with code (single use, 60 s), state and iss; a refusal at WeChat, or a 朋友圈 snapshot page, with error=access_denied. An unknown or already used state answers a 400 page and never redirects.",
  query: z.object({
    code: described("WeChat's code; absent when the person refused.", '061Ab2ll2Lw5Yd4Cnwll2RVcAr1Ab2lG'),
    state: described(
      'The state wxauth gave WeChat.',
      '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
    ),
  }),
  responses: browserAnswers,
});

/** The token request, documented; the flow checks it (RFC 6749 §5.2's error codes). */
const TokenRequest = z
  .object({
    grant_type: z.enum(['authorization_code', 'refresh_token']),
    code: described('authorization_code: the code of the redirect.', 'SplxlOBeZQQYbYS6WxSbIA'),
    redirect_uri: described(
      'authorization_code: the redirect_uri of the authorization request.',
      'https://shop.example.com/auth/callback',
    ),
    client_id: described('authorization_code: the appid.', 'wx1234567890abcdef'),
    code_verifier: described(
      'authorization_code: the PKCE verifier (43 to 128 characters).',
      'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk',
    ),
    refresh_token: z
      .string()
      .optional()
      .meta({ description: 'refresh_token: the session’s refresh token (it rotates).' }),
  })
  .meta({
    examples: [
      {
        grant_type: 'authorization_code',
        code: 'SplxlOBeZQQYbYS6WxSbIA',
        redirect_uri: 'https://shop.example.com/auth/callback',
        client_id: 'wx1234567890abcdef',
        code_verifier: 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk',
      },
      { grant_type: 'refresh_token', refresh_token: 'o6zAJs-AbCdEfGh.Jd9QhV3mXk2LpR7sTz4wNa.2Kp' },
    ],
  });

const tokenRoute = declareRoute({
  method: 'post',
  path: '/oauth/token',
  auth: 'none',
  summary: 'OAuth 2.0 token endpoint: an authorization code (PKCE) or a refresh token for tokens',
  description:
    'Form-encoded (JSON is taken too). authorization_code opens a session of the app’s identity and, with scope openid, adds an id_token; a code used twice is invalid_grant and ends the session it gave. refresh_token rotates as POST /auth/refresh. Browsers of the origins of configured redirect URIs may call it (CORS).',
  body: TokenRequest,
  responses: {
    '200': { description: 'Tokens (no-store)', content: json(ref('OAuthTokenResponse')) },
    '400': error(
      'invalid_request (a parameter missing or given twice), invalid_grant (the code unknown, expired, used, another client’s or redirect_uri’s, or the code_verifier wrong; the refresh token refused) or unsupported_grant_type.',
    ),
    '401': error('invalid_client: the client_id is no official account or website app of this service.'),
    '413': error('Body larger than the limit.'),
    '429': error(
      'rate_limited: too many token requests from this address (RATE_LIMIT_REFRESH_PER_IP), or refreshes of this user (RATE_LIMIT_REFRESH_PER_USER, shared with POST /auth/refresh); see Retry-After.',
    ),
    ...storeErrors,
  },
});

const userinfoRoute = declareRoute({
  method: 'get',
  path: '/oauth/userinfo',
  auth: 'bearer',
  summary: 'OpenID Connect UserInfo: the subject (openid) and, when known, the unionid',
  responses: {
    '200': {
      description: 'The claims',
      content: json({
        type: 'object',
        properties: { sub: { type: 'string' }, unionid: { type: 'string' } },
        required: ['sub'],
      }),
    },
    ...bearerErrors,
  },
});

/** The declarations of oauthRoutes, for the OpenAPI document. */
export const OAUTH_ROUTES = [
  openidConfigurationRoute,
  authorizationServerRoute,
  authorizeRoute,
  callbackRoute,
  tokenRoute,
  userinfoRoute,
];

export interface OAuthRouteDeps {
  /** PUBLIC_URL, without a trailing slash: every URL the documents give starts with it. */
  publicUrl: string;
  /** The tokens' `iss` (JWT_ISSUER, else PUBLIC_URL): verifiers compare it with the documents' `issuer`. */
  issuer: string;
  keys: KeySet;
  oauth: OAuth;
  access: AccessTokens;
  /**
   * Per-address limits of the browser routes and the token endpoint, and the refresh's per-user limit
   * (checked among `token`, counted by `refreshed` once the store confirmed the user), as at /auth/refresh.
   */
  limits: {
    browser: Middleware<BearerState>[];
    token: Middleware<BearerState>[];
    refreshed(ctx: Context, openid: string): Promise<void>;
  };
}

/**
 * Discovery (RFC 8414, OpenID Connect Discovery), the authorization code flow's four routes
 * (auth/oauth.ts), and POST /auth/refresh's grant_type check. Registered before the auth routes: the
 * grant_type check runs ahead of the refresh route.
 */
export function oauthRoutes(router: Router<BearerState>, deps: OAuthRouteDeps): void {
  const { publicUrl, issuer, keys, oauth, access, limits } = deps;
  const document: Discovery = {
    issuer,
    authorization_endpoint: `${publicUrl}/oauth/authorize`,
    token_endpoint: `${publicUrl}/oauth/token`,
    userinfo_endpoint: `${publicUrl}/oauth/userinfo`,
    jwks_uri: `${publicUrl}/.well-known/jwks.json`,
    scopes_supported: ['openid', 'snsapi_base', 'snsapi_userinfo'],
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['none'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: keys.algorithms,
    claims_supported: [
      'iss',
      'aud',
      'sub',
      'client_id',
      'iat',
      'exp',
      'jti',
      'sid',
      'auth_time',
      'nonce',
      'at_hash',
      'unionid',
    ],
    authorization_response_iss_parameter_supported: true,
    request_parameter_supported: false,
    request_uri_parameter_supported: false,
  };
  const metadata = JSON.stringify(document);

  const discover = function describeIssuer(ctx: Context) {
    // As the JWKS: the algorithms change only with the key set, which a rotation publishes ahead.
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.type = 'application/json';
    ctx.body = metadata;
  };
  const mount = mounter(router, { bearer: bearer(access) });
  mount(openidConfigurationRoute, {}, discover);
  mount(authorizationServerRoute, {}, discover);

  // The queries are the flow's to check (see browserAnswers): mounted without the router's validation.
  mount({ ...authorizeRoute, query: undefined }, { before: limits.browser }, async function authorize(ctx) {
    answerBrowser(ctx, await oauth.authorize(ctx.query));
  });
  mount({ ...callbackRoute, query: undefined }, { before: limits.browser }, async function callback(ctx) {
    answerBrowser(ctx, await oauth.callback(ctx.query));
  });
  // Any object as the body: the flow checks the fields, with RFC 6749 §5.2's codes.
  mount(
    { ...tokenRoute, body: z.looseObject({}) },
    { before: [noStore, ...limits.token] },
    async function token(ctx, { body }) {
      const tokens = await oauth.token(body);
      if (body.grant_type === 'refresh_token') await limits.refreshed(ctx, tokens.openid);
      ctx.body = tokens;
    },
  );
  mount(userinfoRoute, { before: [noStore] }, async function userinfo(ctx) {
    const subject = ctx.state.subject;
    if (subject === undefined) throw new Error('bearer route without a subject');
    ctx.body = await oauth.userinfo(subject.sub);
  });

  router.use('/auth/refresh', async function checkGrantType(ctx, next) {
    const grant = (ctx.request.body as { grant_type?: unknown } | undefined)?.grant_type;
    if (ctx.method === 'POST' && grant !== undefined && grant !== 'refresh_token')
      throw new InvalidRequest(
        'grant_type: this token endpoint takes only grant_type=refresh_token (the authorization code goes to POST /oauth/token).',
      );
    await next();
  });
}

/** A redirect (302, Location), or the short page saying what went wrong; neither is ever cached. */
function answerBrowser(ctx: Context, answer: { redirect: string } | { problem: string }): void {
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Pragma', 'no-cache');
  // The callback's URL carries WeChat's code and the client's its own: no page of theirs may see it.
  ctx.set('Referrer-Policy', 'no-referrer');
  if ('redirect' in answer) {
    ctx.status = 302;
    ctx.set('Location', answer.redirect);
    ctx.body = '';
    return;
  }
  ctx.status = 400;
  ctx.set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'");
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.type = 'text/html; charset=utf-8';
  ctx.body = problemPage(answer.problem);
}

/** Plain, short, escaped: what went wrong and nothing else (no stack, no parameter echoed). */
export function problemPage(problem: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign-in failed</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 32rem; margin: 3rem auto; padding: 0 1rem">
<h1>Sign-in failed</h1>
<p>${escapeHtml(problem)}</p>
</body>
</html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

/**
 * CORS (Fetch standard) for what a browser app calls itself: the token endpoint, the discovery documents
 * and the JWKS. Allowed are the origins of the configured redirect URIs (computed once), and no other:
 * another origin gets no CORS header at all, so its page cannot read the answer. A preflight of the
 * token endpoint from an allowed origin is answered here.
 */
export function oauthCors(apps: AppDirectory): Middleware {
  const origins = new Set<string>();
  for (const app of apps.all) {
    for (const uri of app.redirectUris) origins.add(new URL(uri).origin);
  }
  const paths = new Set([
    '/oauth/token',
    '/.well-known/openid-configuration',
    '/.well-known/oauth-authorization-server',
    '/.well-known/jwks.json',
  ]);
  return async function oauthCorsHeaders(ctx, next) {
    if (!paths.has(ctx.path)) return next();
    ctx.vary('Origin');
    const origin = ctx.get('Origin');
    if (origin === '' || !origins.has(origin)) return next();
    ctx.set('Access-Control-Allow-Origin', origin);
    if (ctx.method === 'OPTIONS' && ctx.get('Access-Control-Request-Method') !== '') {
      ctx.set('Access-Control-Allow-Methods', ctx.path === '/oauth/token' ? 'POST' : 'GET');
      ctx.set('Access-Control-Allow-Headers', 'Content-Type');
      ctx.set('Access-Control-Max-Age', '600');
      ctx.status = 204;
      return;
    }
    return next();
  };
}
