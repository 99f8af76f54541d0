import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { EmulatedUser } from '../../src/emulator/index.js';
import type { Harness } from './harness.js';

export const PUBLIC_URL = 'https://auth.example.com';
export const OPEN_BASE = 'https://open.weixin.example';
export const OA_REDIRECT = 'https://pages.example.com/cb';
export const OA_OTHER_REDIRECT = 'https://pages.example.com/other';
export const WEB_REDIRECT = 'https://shop.example.com/auth/callback';

/** An official account, a website and a mini-program, the browser apps with their redirect URIs. */
export const OAUTH_APPS = [
  { kind: 'official_account' as const, name: 'Pages', redirect_uris: [OA_REDIRECT, OA_OTHER_REDIRECT] },
  { kind: 'website' as const, name: 'Shop', redirect_uris: [WEB_REDIRECT] },
  { kind: 'miniprogram' as const, name: 'Mini' },
];

export const OAUTH_ENV = { PUBLIC_URL, WECHAT_OPEN_BASE: OPEN_BASE };

export interface Pkce {
  verifier: string;
  challenge: string;
}

export function pkce(): Pkce {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export type Kind = 'official_account' | 'website' | 'miniprogram';

export function appidOf(h: Harness, kind: Kind): string {
  const app = h.emulator.apps.find((a) => a.kind === kind);
  if (app === undefined) throw new Error(`no ${kind} app`);
  return app.appid;
}

export function redirectOf(kind: Kind): string {
  return kind === 'website' ? WEB_REDIRECT : OA_REDIRECT;
}

/** The query of a Location, as an object of its single values. */
export function queryOf(location: string): Record<string, string> {
  return Object.fromEntries(new URL(location).searchParams);
}

export interface AuthorizeParams {
  response_type?: string;
  client_id?: string;
  redirect_uri?: string;
  state?: string;
  code_challenge?: string;
  code_challenge_method?: string;
  scope?: string;
  nonce?: string;
}

/** A complete, good authorization request for the app of `kind`. */
export function authorizeParams(
  h: Harness,
  kind: Kind,
  pair: Pkce,
  more: AuthorizeParams = {},
): AuthorizeParams {
  return {
    response_type: 'code',
    client_id: appidOf(h, kind),
    redirect_uri: redirectOf(kind),
    state: `client-${randomBytes(6).toString('hex')}`,
    code_challenge: pair.challenge,
    code_challenge_method: 'S256',
    scope: 'openid',
    ...more,
  };
}

export function authorizePath(params: Record<string, string | undefined>): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined) query.append(name, value);
  return `/oauth/authorize?${query}`;
}

export interface SignedIn {
  /** wxauth's code, as the client's redirect_uri receives it. */
  code: string;
  /** Everything the client's redirect_uri received. */
  query: Record<string, string>;
  pair: Pkce;
  params: AuthorizeParams;
  openid: string;
  /** wxauth's own state at WeChat. */
  ourState: string;
  /** The callback path WeChat sent the browser to. */
  callback: string;
}

/** GET /oauth/authorize answered with a redirect to WeChat: wxauth's state in it. */
export async function startAt(h: Harness, params: AuthorizeParams): Promise<string> {
  const res = await h.http.get(authorizePath({ ...params })).expect(302);
  const location = res.headers.location as string;
  const state = new URL(location).searchParams.get('state');
  expect(state).to.match(/^[0-9a-f]{64}$/);
  return state as string;
}

/**
 * What WeChat's login page does with the browser wxauth sent there (`wechatUrl`, the Location of GET
 * /oauth/authorize): the emulator's authorize() checks the request as the page does and answers where
 * WeChat redirects, which is wxauth's callback; answered as a path of the service.
 */
export function atWechat(
  h: Harness,
  wechatUrl: string,
  choice: { openid?: string; decision?: 'allow' | 'refuse'; snapshot?: boolean } = {},
): string {
  const url = new URL(wechatUrl);
  const params = url.searchParams;
  const { location } = h.emulator.authorize({
    appid: params.get('appid') ?? '',
    redirectUri: params.get('redirect_uri') ?? '',
    state: params.get('state') ?? '',
    scope: params.get('scope') as 'snsapi_base' | 'snsapi_userinfo' | 'snsapi_login',
    decision: choice.decision ?? 'allow',
    ...(choice.openid === undefined ? {} : { openid: choice.openid }),
    ...(choice.snapshot === undefined ? {} : { snapshot: choice.snapshot }),
  });
  const back = new URL(location);
  expect(`${back.origin}${back.pathname}`).to.equal(`${PUBLIC_URL}/oauth/callback`);
  return `${back.pathname}${back.search}`;
}

/**
 * The browser's trip: authorize, WeChat's page (the emulator's, `person` allowing; default a new person
 * without a unionid), the callback, and the client's redirect_uri with wxauth's code.
 */
export async function signIn(
  h: Harness,
  kind: Kind,
  options: { person?: EmulatedUser; more?: AuthorizeParams } = {},
): Promise<SignedIn> {
  const person = options.person ?? h.emulator.createUser();
  const pair = pkce();
  const params = authorizeParams(h, kind, pair, options.more);
  const started = await h.http.get(authorizePath({ ...params })).expect(302);
  const wechatUrl = started.headers.location as string;
  const ourState = new URL(wechatUrl).searchParams.get('state') as string;
  const callback = atWechat(h, wechatUrl, { openid: person.openid });
  const back = await h.http.get(callback).expect(302);
  const location = back.headers.location as string;
  expect(location.startsWith(`${params.redirect_uri}?`)).to.equal(true, location);
  const query = queryOf(location);
  expect(query).to.have.property('code');
  const openid = person.openids[appidOf(h, kind)] as string;
  return { code: query.code as string, query, pair, params, openid, ourState, callback };
}

export function redeem(h: Harness, form: Record<string, string | undefined>) {
  const body = Object.fromEntries(Object.entries(form).filter(([, v]) => v !== undefined));
  return h.http.post('/oauth/token').type('form').send(body);
}

/** The token request a client makes for what it received. */
export function redeemSignedIn(h: Harness, signed: SignedIn, more: Record<string, string | undefined> = {}) {
  return redeem(h, {
    grant_type: 'authorization_code',
    code: signed.code,
    redirect_uri: signed.params.redirect_uri,
    client_id: signed.params.client_id,
    code_verifier: signed.pair.verifier,
    ...more,
  });
}

export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
