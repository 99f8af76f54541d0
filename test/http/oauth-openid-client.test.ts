import { expect } from 'chai';
import * as client from 'openid-client';
import { type LiveOAuth, startLiveOAuth } from '../helpers/oauth-live.js';

/**
 * A standard relying party, not ours: openid-client (panva's, on oauth4webapi) configured by discovery
 * from wxauth's issuer, logging in with PKCE S256, state and nonce, and validating the ID token (iss,
 * aud, exp, iat, nonce, at_hash where present) and RFC 9207's iss of the authorization response, its own
 * way. The browser's trip is driven by hand: GET /oauth/authorize, WeChat's page (the emulator's
 * authorize(), as a person choosing there), wxauth's callback, each redirect followed with fetch.
 */
describe('OAuth: openid-client (a standard relying party) logs in through wxauth over HTTP', function () {
  this.timeout(20_000);
  let live: LiveOAuth;
  let config: client.Configuration;
  beforeEach(async () => {
    live = await startLiveOAuth();
    config = await client.discovery(new URL(live.url), live.website, undefined, client.None(), {
      // The service listens on http://127.0.0.1 here; a deployment is https (PUBLIC_URL's check).
      execute: [client.allowInsecureRequests],
    });
  });
  afterEach(async () => {
    await live.close();
  });

  /** Where a redirect of the service points: its Location, checked to be one. */
  async function locationOf(url: string | URL): Promise<string> {
    const response = await fetch(url, { redirect: 'manual' });
    expect(response.status, `${url}`).to.equal(302);
    return response.headers.get('location')!;
  }

  /** The browser's trip from the authorization URL to the redirect URI, the person deciding at WeChat. */
  async function browse(
    authorizationUrl: URL,
    choice: { openid?: string; decision?: 'allow' | 'refuse' } = {},
  ): Promise<URL> {
    const wechat = new URL(await locationOf(authorizationUrl));
    expect(`${wechat.origin}${wechat.pathname}`).to.equal(`${live.h.emulator.url}/connect/qrconnect`);
    const { location } = live.h.emulator.authorize({
      appid: wechat.searchParams.get('appid')!,
      redirectUri: wechat.searchParams.get('redirect_uri')!,
      state: wechat.searchParams.get('state')!,
      scope: 'snsapi_login',
      decision: choice.decision ?? 'allow',
      ...(choice.openid === undefined ? {} : { openid: choice.openid }),
    });
    return new URL(await locationOf(location));
  }

  function start() {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    return { verifier, state, nonce };
  }

  async function authorizationUrl({ verifier, state, nonce }: ReturnType<typeof start>) {
    return client.buildAuthorizationUrl(config, {
      redirect_uri: live.redirectUri,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
  }

  it('discovers the endpoints, logs in with PKCE and nonce, validates the ID token, reads userinfo and refreshes', async () => {
    const metadata = config.serverMetadata();
    expect(metadata).to.include({
      issuer: live.url,
      authorization_endpoint: `${live.url}/oauth/authorize`,
      token_endpoint: `${live.url}/oauth/token`,
    });
    const person = live.h.emulator.createUser({ unionid: true });
    const checks = start();
    const back = await browse(await authorizationUrl(checks), { openid: person.openid });
    expect(`${back.origin}${back.pathname}`).to.equal(live.redirectUri);

    const tokens = await client.authorizationCodeGrant(config, back, {
      pkceCodeVerifier: checks.verifier,
      expectedState: checks.state,
      expectedNonce: checks.nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims()!;
    const openid = person.openids[live.website]!;
    expect(claims).to.include({ iss: live.url, aud: live.website, sub: openid, nonce: checks.nonce });
    expect(claims.unionid).to.equal(person.unionid);

    const info = await client.fetchUserInfo(config, tokens.access_token, openid);
    expect(info).to.deep.equal({ sub: openid, unionid: person.unionid });

    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.access_token).to.be.a('string').and.not.equal(tokens.access_token);
    expect(refreshed.refresh_token).to.be.a('string').and.not.equal(tokens.refresh_token);
  });

  it('fails the login when the nonce it expects is not the one in the ID token', async () => {
    const checks = start();
    const back = await browse(await authorizationUrl(checks));
    const failure = await client
      .authorizationCodeGrant(config, back, {
        pkceCodeVerifier: checks.verifier,
        expectedState: checks.state,
        expectedNonce: client.randomNonce(),
        idTokenExpected: true,
      })
      .then(
        () => undefined,
        (error: unknown) => error as { message: string; cause?: { message: string } },
      );
    expect(failure?.message).to.equal('unexpected JWT claim value encountered');
    expect(failure?.cause?.message).to.equal('unexpected ID Token "nonce" claim value');
  });

  it("takes the person's refusal at WeChat as the authorization response's access_denied", async () => {
    const checks = start();
    const back = await browse(await authorizationUrl(checks), { decision: 'refuse' });
    const failure = await client
      .authorizationCodeGrant(config, back, {
        pkceCodeVerifier: checks.verifier,
        expectedState: checks.state,
        expectedNonce: checks.nonce,
      })
      .then(
        () => undefined,
        (error: unknown) => error as { error?: string },
      );
    expect(failure?.error).to.equal('access_denied');
  });
});
