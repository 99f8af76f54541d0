import { expect } from 'chai';
import { type LiveOAuth, startLiveOAuth } from '../helpers/oauth-live.js';

const CALLBACK_PATH = '/auth/callback/wechat';

/** What the test uses of @auth/core, typed here: its declarations pull DOM's lib into the whole program. */
type AuthHandler = (request: Request, config: Record<string, unknown>) => Promise<Response>;
type Claims = Record<string, unknown>;
// A specifier TypeScript does not resolve, for the reason above.
const AUTH_CORE = '@auth/core';

/**
 * Auth.js (@auth/core, what NextAuth.js v5 and the other Auth.js integrations run) with wxauth as a
 * custom OIDC provider, configured as docs/identity-servers.md says: discovery from the issuer, a
 * public client, PKCE, state and nonce. Its framework-free handler is called with Requests as a site
 * would route them to it, cookies carried between the calls; the browser's trip through WeChat's page
 * is the emulator's authorize().
 */
describe('OAuth: Auth.js (@auth/core) signs in through wxauth as a custom OIDC provider', function () {
  this.timeout(20_000);
  let live: LiveOAuth;
  let config: Record<string, unknown>;
  let Auth: AuthHandler;
  before(async () => {
    ({ Auth } = (await import(AUTH_CORE)) as { Auth: AuthHandler });
  });
  /** The browser's cookies for the site. */
  let jar: Map<string, string>;
  /** What Auth.js logged as errors (instead of its console lines). */
  let logged: Array<Error & { cause?: unknown }>;

  beforeEach(async () => {
    live = await startLiveOAuth([CALLBACK_PATH]);
    jar = new Map();
    logged = [];
    config = {
      logger: { error: (error: Error) => void logged.push(error) },
      basePath: '/auth',
      trustHost: true,
      secret: 'a test secret of the site, long enough for Auth.js',
      providers: [
        {
          id: 'wechat',
          name: 'WeChat',
          type: 'oidc',
          issuer: live.url,
          clientId: live.website,
          client: { token_endpoint_auth_method: 'none' },
          checks: ['pkce', 'state', 'nonce'],
          authorization: { params: { scope: 'openid' } },
          profile: (claims: Claims) => ({ id: claims.sub as string, name: null, email: null, image: null }),
        },
      ],
      callbacks: {
        // The ID token's claims (Auth.js's `profile`), validated by it, kept in its own session JWT.
        jwt: ({ token, profile }: { token: Claims; profile?: Claims }) =>
          profile === undefined ? token : { ...token, openid: profile.sub, unionid: profile.unionid },
        session: ({ session, token }: { session: Claims; token: Claims }) => ({
          ...session,
          openid: token.openid,
          unionid: token.unionid,
        }),
      },
    };
  });
  afterEach(async () => {
    await live.close();
  });

  /** One request to the site's Auth.js routes, with the jar's cookies; the cookies it sets kept. */
  async function site(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (jar.size > 0) headers.set('cookie', [...jar].map(([name, value]) => `${name}=${value}`).join('; '));
    const response = await Auth(new Request(new URL(path, live.site), { ...init, headers }), config);
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const at = pair!.indexOf('=');
      const name = pair!.slice(0, at);
      const value = pair!.slice(at + 1);
      if (value === '' || /max-age=0/i.test(cookie)) jar.delete(name);
      else jar.set(name, value);
    }
    return response;
  }

  /** The sign-in button: a POST with the CSRF token, answered with the redirect to wxauth. */
  async function startSignIn(): Promise<URL> {
    const { csrfToken } = (await (await site('/auth/csrf')).json()) as { csrfToken: string };
    const started = await site('/auth/signin/wechat', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrfToken, callbackUrl: `${live.site}/` }),
    });
    expect(started.status).to.equal(302);
    return new URL(started.headers.get('location')!);
  }

  /** From wxauth's authorization endpoint through WeChat's QR page back to the site's callback. */
  async function trip(authorize: URL, choice: { openid?: string; decision?: 'allow' | 'refuse' }) {
    const first = await fetch(authorize, { redirect: 'manual' });
    expect(first.status).to.equal(302);
    const wechat = new URL(first.headers.get('location')!);
    const { location } = live.h.emulator.authorize({
      appid: wechat.searchParams.get('appid')!,
      redirectUri: wechat.searchParams.get('redirect_uri')!,
      state: wechat.searchParams.get('state')!,
      decision: choice.decision ?? 'allow',
      ...(choice.openid === undefined ? {} : { openid: choice.openid }),
    });
    const back = await fetch(location, { redirect: 'manual' });
    expect(back.status).to.equal(302);
    return new URL(back.headers.get('location')!);
  }

  it("sends PKCE S256, state and nonce, and signs the person in: the session's user is their openid", async () => {
    const authorize = await startSignIn();
    expect(`${authorize.origin}${authorize.pathname}`).to.equal(`${live.url}/oauth/authorize`);
    expect(Object.fromEntries(authorize.searchParams)).to.include({
      client_id: live.website,
      redirect_uri: `${live.site}${CALLBACK_PATH}`,
      code_challenge_method: 'S256',
      scope: 'openid',
    });
    expect(authorize.searchParams.get('state')).to.be.a('string');
    expect(authorize.searchParams.get('nonce')).to.be.a('string');

    const person = live.h.emulator.createUser({ unionid: true });
    const back = await trip(authorize, { openid: person.openid });
    expect(`${back.origin}${back.pathname}`).to.equal(`${live.site}${CALLBACK_PATH}`);
    const landed = await site(`${back.pathname}${back.search}`);
    expect(landed.status).to.equal(302);
    expect(landed.headers.get('location')).to.equal(`${live.site}/`);

    const session = (await (await site('/auth/session')).json()) as Claims;
    expect(session).to.include({ openid: person.openids[live.website], unionid: person.unionid });
    expect(logged).to.deep.equal([]);
  });

  it('sends the site to its error page when the person refuses at WeChat, signing nobody in', async () => {
    const back = await trip(await startSignIn(), { decision: 'refuse' });
    expect(back.searchParams.get('error')).to.equal('access_denied');
    const landed = await site(`${back.pathname}${back.search}`);
    expect(landed.status).to.equal(302);
    expect(landed.headers.get('location')).to.equal(`${live.site}/auth/signin?error=OAuthCallbackError`);
    expect(logged.map((error) => error.name)).to.deep.equal(['OAuthCallbackError']);
    const session = await (await site('/auth/session')).json();
    expect(session).to.equal(null);
  });
});
