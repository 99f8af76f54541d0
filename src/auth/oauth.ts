import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import type { AppDirectory, WechatApp } from '../config/apps.js';
import {
  AccessDenied,
  AppError,
  InvalidClient,
  InvalidGrant,
  InvalidRequest,
  UnsupportedGrantType,
} from '../errors/index.js';
import type { Clock } from '../lib/index.js';
import type { AuthorizationRequest, OAuthFlows, UserSessions } from '../store/index.js';
import { type IdTokens, parseRefreshToken, type Sessions, type TokenResponse } from '../tokens/index.js';
import type { WechatClient } from '../wechat/index.js';

/**
 * wxauth as the OAuth 2.0 authorization server (RFC 6749 §4.1, authorization code with PKCE S256 only,
 * RFC 7636; RFC 9700's advice) and OpenID Connect provider (Core §3.1) of its browser apps: an official
 * account's pages inside WeChat (WeChat's snsapi_base / snsapi_userinfo web authorization) and a
 * website's QR login (snsapi_login). The browser comes to GET /oauth/authorize, goes on to WeChat, comes
 * back to GET /oauth/callback with WeChat's code, and returns to the client with a code of wxauth's,
 * which POST /oauth/token redeems for a session like any other: a refresh family of the app's identity.
 *
 * Written here rather than on panva's oidc-provider on purpose: that library would be a second token
 * system (its own grants, sessions, refresh tokens and their revocation) beside wxauth's one list of
 * sessions, its revocations and its refresh rotation. Here the only tokens are Sessions' own, so a
 * browser session is listed, ended, banned and rotated exactly as a mini-program's.
 *
 * No Koa here: the routes (http/routes/oauth.ts) parse, call one method, and answer what it says.
 */
export interface OAuth {
  /** GET /oauth/authorize: on to WeChat, back to the client with an error, or a page (never a redirect). */
  authorize(query: Record<string, unknown>): Promise<BrowserAnswer>;
  /** GET /oauth/callback: WeChat's redirect back; on to the client with a code or an error, or a page. */
  callback(query: Record<string, unknown>): Promise<BrowserAnswer>;
  /** POST /oauth/token (RFC 6749 §4.1.3, §6); errors are AppErrors of RFC 6749 §5.2's codes. */
  token(form: Record<string, unknown>): Promise<OAuthTokenResponse>;
  /** GET /oauth/userinfo (Core §5.3) for the holder of an access token of `openid`. */
  userinfo(openid: string): Promise<{ sub: string; unionid?: string }>;
}

/** What a browser is answered: a 302 to `redirect`, or a short 400 page saying `problem`. */
export type BrowserAnswer = { redirect: string } | { problem: string };

export type OAuthTokenResponse = TokenResponse & { id_token?: string };

export interface OAuthOptions {
  apps: AppDirectory;
  wechat: ReadonlyMap<string, Pick<WechatClient, 'exchangeOAuthCode' | 'getSnsUserinfo'>>;
  store: OAuthFlows & Pick<UserSessions, 'endSession' | 'getAccount'>;
  sessions: Pick<Sessions, 'login' | 'refresh'>;
  idTokens: IdTokens;
  clock: Clock;
  logger: Logger;
  /** The tokens' iss: the authorization response's `iss` too (RFC 9207). */
  issuer: string;
  /** PUBLIC_URL: WeChat sends the browser back to `${publicUrl}/oauth/callback`. */
  publicUrl: string;
  /** WECHAT_OPEN_BASE: WeChat's browser login pages. */
  openBase: string;
  /** Sessions a replayed code ended. */
  onRevoked?: (count: number) => void;
}

/** How long a browser may spend at WeChat (a QR code scanned on a phone) before coming back. */
export const AUTHORIZATION_REQUEST_TTL_MS = 10 * 60_000;
/** RFC 6749 §4.1.2 advises at most 10 minutes; a browser hands the code on at once. */
export const CODE_TTL_MS = 60_000;
/** How long a used code is remembered past its validity, for a replay to end the session it gave. */
export const CODE_REPLAY_MEMORY_MS = 5 * 60_000;

/** The browser kinds: the only apps with redirect URIs, and so the only OAuth clients. */
const BROWSER_KINDS = new Set(['official_account', 'website']);
/** S256's challenge: base64url (no padding) of a 32-byte SHA-256, so exactly 43 characters. */
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
/** RFC 7636 §4.1: 43 to 128 unreserved characters. */
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;
/** Our state at WeChat: WeChat takes a-zA-Z0-9, at most 128 bytes; 256 bits in hex. */
const OUR_STATE = /^[0-9a-f]{64}$/;
/** Our codes: 256 random bits, base64url. */
const OUR_CODE = /^[A-Za-z0-9_-]{43}$/;
/** Printable text without controls, for the client's state and nonce (echoed back, never interpreted). */
const PRINTABLE = /^[^\p{C}]*$/u;
const MAX_STATE = 1024;
const MAX_NONCE = 512;
const MAX_SCOPE = 512;

const DEVICE: Record<string, string> = {
  official_account: 'Web (official account)',
  website: 'Web (website)',
};

export function createOAuth(options: OAuthOptions): OAuth {
  const { apps, wechat, store, sessions, idTokens, clock, logger, issuer, publicUrl, openBase } = options;
  const callbackUrl = `${publicUrl}/oauth/callback`;

  /** The browser app a client_id names, or undefined (unknown, or an app that cannot be a client). */
  function clientOf(clientId: unknown): WechatApp | undefined {
    if (typeof clientId !== 'string') return undefined;
    const app = apps.get(clientId);
    return app !== undefined && BROWSER_KINDS.has(app.kind) ? app : undefined;
  }

  /** The client's redirect_uri with the authorization response's parameters (RFC 6749 §4.1.2, RFC 9207). */
  function backToClient(redirectUri: string, params: Record<string, string | undefined>): BrowserAnswer {
    const url = new URL(redirectUri);
    for (const [name, value] of Object.entries(params)) {
      if (value !== undefined) url.searchParams.append(name, value);
    }
    // RFC 9207: the client checks it is us that answered, against mix-up attacks.
    url.searchParams.append('iss', issuer);
    return { redirect: url.href };
  }

  function clientError(
    redirectUri: string,
    clientState: string | undefined,
    error: string,
    description: string,
  ): BrowserAnswer {
    return backToClient(redirectUri, { error, error_description: description, state: clientState });
  }

  /** WeChat's authorization page for the app, coming back to our callback with our state. */
  function wechatUrl(app: WechatApp, scope: string, state: string): string {
    // WeChat reads its parameters in this order, and wants the #wechat_redirect fragment.
    const page = app.kind === 'website' ? 'connect/qrconnect' : 'connect/oauth2/authorize';
    const query = [
      `appid=${encodeURIComponent(app.appid)}`,
      `redirect_uri=${encodeURIComponent(callbackUrl)}`,
      'response_type=code',
      `scope=${scope}`,
      `state=${state}`,
    ].join('&');
    return `${openBase}/${page}?${query}#wechat_redirect`;
  }

  async function authorize(query: Record<string, unknown>): Promise<BrowserAnswer> {
    // Until client and redirect_uri are known good, nothing redirects: that would be an open redirector.
    const app = clientOf(query.client_id);
    if (app === undefined) {
      return {
        problem:
          typeof query.client_id === 'string'
            ? 'The client_id is not an official account or website app of this service.'
            : 'The request names no client_id (or names it more than once).',
      };
    }
    const redirectUri = query.redirect_uri;
    // Exact string equality with a registered URI (RFC 9700 §4.1.3): no normalisation, no pattern.
    if (typeof redirectUri !== 'string' || !app.redirectUris.includes(redirectUri)) {
      return {
        problem:
          typeof redirectUri === 'string'
            ? 'The redirect_uri is not one registered for this client.'
            : 'The request names no redirect_uri (or names it more than once).',
      };
    }
    const state = query.state;
    // Given back as sent, unless it is no state a client would send (then it is not echoed at all).
    const clientState =
      typeof state === 'string' && state.length <= MAX_STATE && PRINTABLE.test(state) ? state : undefined;
    const refuse = (description: string, error = 'invalid_request') =>
      clientError(redirectUri, clientState, error, description);

    // RFC 6749 §3.1: a parameter sent twice is invalid.
    for (const [name, value] of Object.entries(query)) {
      if (typeof value !== 'string') return refuse(`${safeName(name)} is given more than once.`);
    }
    if (state !== undefined && clientState === undefined)
      return refuse(`state must be at most ${MAX_STATE} printable characters.`);
    if (query.response_type === undefined) return refuse('response_type is required (code).');
    if (query.response_type !== 'code')
      return refuse('Only response_type=code is supported.', 'unsupported_response_type');
    // OIDC Core §6: request objects are not supported, and must be refused rather than ignored.
    if (query.request !== undefined)
      return refuse('Request objects are not supported.', 'request_not_supported');
    if (query.request_uri !== undefined)
      return refuse('request_uri is not supported.', 'request_uri_not_supported');
    if (query.response_mode !== undefined && query.response_mode !== 'query')
      return refuse('Only response_mode=query is supported.');
    const method = query.code_challenge_method;
    if (query.code_challenge === undefined || method === undefined)
      return refuse('PKCE is required: send code_challenge and code_challenge_method=S256.');
    if (method !== 'S256')
      return refuse('code_challenge_method must be S256 (plain is refused: RFC 9700 §2.1.1).');
    const challenge = query.code_challenge as string;
    if (!CHALLENGE.test(challenge))
      return refuse('code_challenge must be the base64url SHA-256 of the verifier (43 characters).');
    const nonce = query.nonce as string | undefined;
    if (nonce !== undefined && (nonce.length === 0 || nonce.length > MAX_NONCE || !PRINTABLE.test(nonce)))
      return refuse(`nonce must be 1 to ${MAX_NONCE} printable characters.`);
    const scope = (query.scope as string | undefined) ?? '';
    if (scope.length > MAX_SCOPE || !/^[\x21\x23-\x5b\x5d-\x7e ]*$/.test(scope))
      return refuse('scope must be space-separated scope names (RFC 6749 §3.3).');
    const scopes = scope.split(' ').filter(Boolean);
    // OIDC Core §3.1.2.1: prompt=none shows the person nothing. wxauth keeps no browser session of its
    // own, so only WeChat's silent authorization (an official account's snsapi_base) can answer it; a
    // website's QR page or a consent page is a page, so the client hears that a login or consent is needed.
    const prompts = typeof query.prompt === 'string' ? query.prompt.split(' ') : [];
    if (prompts.includes('none')) {
      if (app.kind === 'website')
        return refuse('prompt=none: signing in to a website takes WeChat’s QR page.', 'login_required');
      if (scopes.includes('snsapi_userinfo'))
        return refuse('prompt=none: snsapi_userinfo takes WeChat’s consent page.', 'consent_required');
    }

    const ours = randomBytes(32).toString('hex');
    const request: AuthorizationRequest = {
      clientId: app.appid,
      redirectUri,
      ...(clientState === undefined ? {} : { clientState }),
      codeChallenge: challenge,
      ...(nonce === undefined ? {} : { nonce }),
      scope: scopes.join(' '),
      createdAtMs: clock.now(),
    };
    await store.putAuthorizationRequest(sha256(ours), request, AUTHORIZATION_REQUEST_TTL_MS);
    // Unknown scopes are ignored (OIDC Core §3.1.2.1); WeChat's own scope follows from the app's kind.
    const wechatScope =
      app.kind === 'website'
        ? 'snsapi_login'
        : scopes.includes('snsapi_userinfo')
          ? 'snsapi_userinfo'
          : 'snsapi_base';
    return { redirect: wechatUrl(app, wechatScope, ours) };
  }

  async function callback(query: Record<string, unknown>): Promise<BrowserAnswer> {
    const state = query.state;
    if (typeof state !== 'string' || !OUR_STATE.test(state))
      return { problem: 'This sign-in link is not one this service started (no valid state).' };
    // Taken in one step: a second visit of the same callback (a reload, a replay) finds nothing.
    const request = await store.takeAuthorizationRequest(sha256(state));
    if (request === null)
      return {
        problem: 'This sign-in has expired or was already completed: start again from the site.',
      };
    const app = clientOf(request.clientId);
    // Configuration changed since (the app, or this redirect URI, taken out): nowhere safe to go.
    if (app === undefined || !app.redirectUris.includes(request.redirectUri))
      return { problem: 'The site of this sign-in is no longer served here.' };
    const { redirectUri, clientState } = request;
    const refuse = (error: string, description: string) =>
      clientError(redirectUri, clientState, error, description);

    const code = query.code;
    // WeChat sends the browser back without a code when the person refuses (qrconnect).
    if (typeof code !== 'string' || code.length === 0 || code.length > 512)
      return refuse('access_denied', 'The sign-in was refused at WeChat.');

    const client = wechat.get(app.appid);
    if (client === undefined) throw new Error(`no WeChat client for app ${app.appid}`);
    let exchanged: Awaited<ReturnType<typeof client.exchangeOAuthCode>>;
    try {
      exchanged = await client.exchangeOAuthCode(code);
    } catch (error) {
      return refuse(...wechatFailure(error));
    }
    if (exchanged.snapshotUser) {
      logger.info(
        { event: 'oauth_snapshot_user', appid: app.appid },
        'sign-in refused: 朋友圈 snapshot page',
      );
      return refuse(
        'access_denied',
        'The page was opened as a 朋友圈 snapshot (快照页), which signs nobody in: open it in full to sign in.',
      );
    }
    let unionid = exchanged.unionid;
    if (
      unionid === undefined &&
      app.kind === 'official_account' &&
      request.scope.split(' ').includes('snsapi_userinfo') &&
      exchanged.scope.split(',').includes('snsapi_userinfo')
    ) {
      try {
        ({ unionid } = await client.getSnsUserinfo(exchanged.accessToken, exchanged.openid));
      } catch (error) {
        return refuse(...wechatFailure(error));
      }
    }

    const ours = randomBytes(32).toString('base64url');
    const nowMs = clock.now();
    await store.putAuthorizationCode(
      sha256(ours),
      {
        clientId: request.clientId,
        redirectUri,
        codeChallenge: request.codeChallenge,
        ...(request.nonce === undefined ? {} : { nonce: request.nonce }),
        scope: request.scope,
        openid: exchanged.openid,
        ...(unionid === undefined ? {} : { unionid }),
        authTimeMs: nowMs,
        expiresAtMs: nowMs + CODE_TTL_MS,
      },
      CODE_TTL_MS + CODE_REPLAY_MEMORY_MS,
    );
    return backToClient(redirectUri, { code: ours, state: clientState });
  }

  async function token(form: Record<string, unknown>): Promise<OAuthTokenResponse> {
    for (const [name, value] of Object.entries(form)) {
      if (typeof value !== 'string')
        throw new InvalidRequest(`${safeName(name)} must be given once, as text.`);
    }
    const grantType = form.grant_type;
    if (grantType === undefined) throw new InvalidRequest('grant_type is required.');
    if (grantType === 'refresh_token') {
      const refreshToken = form.refresh_token;
      if (typeof refreshToken !== 'string' || refreshToken === '')
        throw new InvalidRequest('refresh_token is required.');
      return sessions.refresh(refreshToken);
    }
    if (grantType !== 'authorization_code')
      throw new UnsupportedGrantType('grant_type must be authorization_code or refresh_token.');

    const { client_id: clientId, code, redirect_uri: redirectUri, code_verifier: verifier } = form;
    if (typeof clientId !== 'string' || clientId === '') throw new InvalidRequest('client_id is required.');
    const app = clientOf(clientId);
    if (app === undefined)
      throw new InvalidClient('The client_id is not an official account or website app of this service.');
    if (typeof code !== 'string' || code === '') throw new InvalidRequest('code is required.');
    if (typeof redirectUri !== 'string' || redirectUri === '')
      throw new InvalidRequest('redirect_uri is required.');
    if (!OUR_CODE.test(code)) throw new InvalidGrant(CODE_UNKNOWN);

    const codeHash = sha256(code);
    const redeemed = await store.redeemAuthorizationCode(codeHash, clock.now());
    if (redeemed.kind === 'replayed') {
      // RFC 6749 §4.1.2: a code used twice revokes what it gave, since one of the two is a thief.
      if (redeemed.familyId !== undefined) await endReplayed(redeemed.openid, redeemed.familyId);
      logger.warn(
        { event: 'oauth_code_replay', openid: redeemed.openid, appid: app.appid },
        'authorization code presented again: the session it gave is ended',
      );
      throw new InvalidGrant('The authorization code was already used: the session it gave has been ended.');
    }
    if (redeemed.kind !== 'fresh') throw new InvalidGrant(CODE_UNKNOWN);
    const { grant } = redeemed;
    // Each check spends the code (it is marked used already): a wrong guess leaves nothing to retry.
    if (grant.clientId !== app.appid)
      throw new InvalidGrant('The authorization code was issued to another client.');
    if (grant.redirectUri !== redirectUri)
      throw new InvalidGrant('redirect_uri is not the one the authorization code was issued for.');
    if (typeof verifier !== 'string' || verifier === '')
      throw new InvalidGrant('code_verifier is required (PKCE).');
    if (!VERIFIER.test(verifier) || !sameChallenge(verifier, grant.codeChallenge))
      throw new InvalidGrant('code_verifier does not match the code_challenge.');

    let tokens: TokenResponse;
    try {
      tokens = await sessions.login({
        openid: grant.openid,
        ...(grant.unionid === undefined ? {} : { unionid: grant.unionid }),
        app,
        device: DEVICE[app.kind] ?? 'Web',
      });
    } catch (error) {
      // RFC 6749 §5.2 has no access_denied: a banned person's grant is simply not good.
      if (error instanceof AccessDenied) throw new InvalidGrant(error.message);
      throw error;
    }
    const familyId = parseRefreshToken(tokens.refresh_token)?.familyId;
    if (familyId !== undefined && (await store.recordCodeSession(codeHash, grant.openid, familyId))) {
      // Replayed while this redemption was opening the session: that session must not live either.
      await endReplayed(grant.openid, familyId);
      throw new InvalidGrant('The authorization code was already used: the session it gave has been ended.');
    }
    const { is_new_user: _new, ...answer } = tokens;
    if (!grant.scope.split(' ').includes('openid')) return answer;
    const unionid = tokens.unionid ?? grant.unionid;
    return {
      ...answer,
      id_token: idTokens({
        sub: grant.openid,
        aud: app.appid,
        authTimeMs: grant.authTimeMs,
        ...(grant.nonce === undefined ? {} : { nonce: grant.nonce }),
        ...(unionid === undefined ? {} : { unionid }),
        accessToken: tokens.access_token,
      }),
    };
  }

  async function endReplayed(openid: string, familyId: string): Promise<void> {
    if (await store.endSession(openid, familyId, clock.now())) options.onRevoked?.(1);
  }

  async function userinfo(openid: string): Promise<{ sub: string; unionid?: string }> {
    const account = await store.getAccount(openid);
    return { sub: openid, ...(account?.unionid ? { unionid: account.unionid } : {}) };
  }

  return { authorize, callback, token, userinfo };
}

const CODE_UNKNOWN = 'The authorization code is unknown or expired: sign in again.';

/** The authorization error a failed WeChat call becomes (RFC 6749 §4.1.2.1's codes). */
function wechatFailure(error: unknown): [string, string] {
  if (!(error instanceof AppError)) throw error;
  if (error.status >= 500 || error.error === 'rate_limited')
    return ['temporarily_unavailable', 'WeChat could not be reached to complete the sign-in: try again.'];
  // A code WeChat refuses (unknown, used, another app's) or its risk control: no sign-in.
  return ['access_denied', 'WeChat did not confirm the sign-in.'];
}

/** RFC 7636 §4.6: BASE64URL(SHA256(verifier)) against the challenge, in constant time. */
function sameChallenge(verifier: string, challenge: string): boolean {
  const computed = Buffer.from(createHash('sha256').update(verifier, 'ascii').digest('base64url'), 'ascii');
  const expected = Buffer.from(challenge, 'ascii');
  return computed.length === expected.length && timingSafeEqual(computed, expected);
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('base64url');
}

/** A parameter's name as an error may quote it: only what looks like a name. */
function safeName(name: string): string {
  return /^[a-z_]{1,32}$/.test(name) ? name : 'a parameter';
}
