import { expect } from 'chai';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { type Harness, startHarness } from '../helpers/harness.js';
import {
  appidOf,
  atWechat,
  authorizeParams,
  authorizePath,
  bearer,
  OA_OTHER_REDIRECT,
  OA_REDIRECT,
  OAUTH_APPS,
  OAUTH_ENV,
  OPEN_BASE,
  PUBLIC_URL,
  pkce,
  queryOf,
  redeem,
  redeemSignedIn,
  signIn,
  startAt,
  WEB_REDIRECT,
} from '../helpers/oauth.js';

describe('OAuth 2.0 / OpenID Connect for browser apps', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ apps: OAUTH_APPS, env: OAUTH_ENV });
  });
  after(async () => {
    await h.close();
  });
  afterEach(() => {
    h.emulator.assertNoPendingFaults();
  });

  async function jwks() {
    const res = await h.http.get('/.well-known/jwks.json').expect(200);
    return createLocalJWKSet(res.body);
  }

  describe('the happy paths', () => {
    it("sends an official account's browser to WeChat's web authorization with wxauth's callback and a state of its own", async () => {
      const pair = pkce();
      const params = authorizeParams(h, 'official_account', pair);
      const res = await h.http.get(authorizePath({ ...params })).expect(302);
      expect(res.headers['cache-control']).to.equal('no-store');
      const location = res.headers.location as string;
      const state = new URL(location).searchParams.get('state') as string;
      expect(location).to.equal(
        `${OPEN_BASE}/connect/oauth2/authorize?appid=${params.client_id}&redirect_uri=${encodeURIComponent(`${PUBLIC_URL}/oauth/callback`)}&response_type=code&scope=snsapi_base&state=${state}#wechat_redirect`,
      );
      // Not the client's state: a client's state never reaches WeChat, nor is it ours to trust.
      expect(state).not.to.equal(params.state);
    });

    it("asks WeChat for snsapi_userinfo when the official account's request asks for it", async () => {
      const params = authorizeParams(h, 'official_account', pkce(), { scope: 'openid snsapi_userinfo' });
      const res = await h.http.get(authorizePath({ ...params })).expect(302);
      expect(new URL(res.headers.location).searchParams.get('scope')).to.equal('snsapi_userinfo');
    });

    it("sends a website's browser to WeChat's QR login (qrconnect, snsapi_login)", async () => {
      const params = authorizeParams(h, 'website', pkce());
      const res = await h.http.get(authorizePath({ ...params })).expect(302);
      const location = new URL(res.headers.location);
      expect(`${location.origin}${location.pathname}`).to.equal(`${OPEN_BASE}/connect/qrconnect`);
      expect(location.searchParams.get('scope')).to.equal('snsapi_login');
      expect(location.searchParams.get('appid')).to.equal(params.client_id);
      expect(location.hash).to.equal('#wechat_redirect');
    });

    it('signs an official account person in (snsapi_base): code at the redirect_uri with state and iss, then a session of the app', async () => {
      const signed = await signIn(h, 'official_account');
      expect(signed.query).to.deep.equal({ code: signed.code, state: signed.params.state, iss: PUBLIC_URL });
      expect(signed.code).to.match(/^[A-Za-z0-9_-]{43}$/); // 256 random bits
      const res = await redeemSignedIn(h, signed).expect(200);
      expect(res.headers['cache-control']).to.equal('no-store');
      expect(res.body).to.include({ token_type: 'Bearer', openid: signed.openid });
      expect(res.body).to.have.property('refresh_token');
      expect(res.body).not.to.have.property('is_new_user');
      const claims = decodeJwt(res.body.access_token);
      expect(claims).to.include({ sub: signed.openid, client_id: appidOf(h, 'official_account') });
      const me = await h.http.get('/auth/me').set(bearer(res.body.access_token)).expect(200);
      expect(me.body.openid).to.equal(signed.openid);
    });

    it("gives an official account's snsapi_userinfo sign-in the person's unionid (token response and ID token)", async () => {
      const person = h.emulator.createUser({ unionid: true });
      const signed = await signIn(h, 'official_account', {
        person,
        more: { scope: 'openid snsapi_userinfo' },
      });
      const res = await redeemSignedIn(h, signed).expect(200);
      expect(res.body.unionid).to.equal(person.unionid);
      expect(decodeJwt(res.body.id_token).unionid).to.equal(person.unionid);
    });

    it('signs a website person in through QR login', async () => {
      const person = h.emulator.createUser({ unionid: true });
      const signed = await signIn(h, 'website', { person });
      expect(signed.query.state).to.equal(signed.params.state);
      const res = await redeemSignedIn(h, signed).expect(200);
      expect(res.body.openid).to.equal(person.openids[appidOf(h, 'website')]);
      expect(decodeJwt(res.body.access_token).client_id).to.equal(appidOf(h, 'website'));
    });

    it('issues an ID token that jose verifies against the served JWKS: iss, sub, aud = client_id, nonce, auth_time, exp', async () => {
      const nonce = 'n-0S6_WzA2Mj';
      const callbackAt = h.clock.now();
      const signed = await signIn(h, 'website', { more: { nonce } });
      h.clock.advance(5000);
      const res = await redeemSignedIn(h, signed).expect(200);
      const { payload, protectedHeader } = await jwtVerify(res.body.id_token, await jwks(), {
        issuer: PUBLIC_URL,
        audience: appidOf(h, 'website'),
        typ: 'JWT',
        currentDate: new Date(h.clock.now()),
      });
      expect(protectedHeader.alg).to.equal('ES256');
      expect(payload).to.include({ sub: signed.openid, nonce, auth_time: Math.floor(callbackAt / 1000) });
      expect(payload.exp! - payload.iat!).to.equal(h.config.tokens.accessTtlS);
      expect(payload.iat).to.equal(Math.floor(h.clock.now() / 1000));
      expect(payload).to.have.property('at_hash');
    });

    it('gives no ID token without scope openid, and no nonce claim when none was sent', async () => {
      const withoutOpenid = await signIn(h, 'website', { more: { scope: '' } });
      const plain = await redeemSignedIn(h, withoutOpenid).expect(200);
      expect(plain.body).not.to.have.property('id_token');
      const noNonce = await redeemSignedIn(h, await signIn(h, 'website')).expect(200);
      expect(decodeJwt(noNonce.body.id_token)).not.to.have.property('nonce');
    });

    it('refuses the ID token as an access token (typ JWT, not at+jwt)', async () => {
      const res = await redeemSignedIn(h, await signIn(h, 'website')).expect(200);
      await h.http.get('/auth/me').set(bearer(res.body.id_token)).expect(401);
    });

    it('refreshes at /oauth/token (grant_type=refresh_token), rotating as /auth/refresh does', async () => {
      const first = await redeemSignedIn(h, await signIn(h, 'official_account')).expect(200);
      const refreshed = await redeem(h, {
        grant_type: 'refresh_token',
        refresh_token: first.body.refresh_token,
      }).expect(200);
      expect(refreshed.body.refresh_token).not.to.equal(first.body.refresh_token);
      expect(decodeJwt(refreshed.body.access_token).client_id).to.equal(appidOf(h, 'official_account'));
      const again = await h.http
        .post('/auth/refresh')
        .send({ refresh_token: refreshed.body.refresh_token })
        .expect(200);
      expect(again.body.openid).to.equal(first.body.openid);
    });

    it("lists the browser session beside the same person's mini-program session (one unionid, snsapi_userinfo)", async () => {
      const person = h.emulator.createUser({ unionid: true });
      const mini = await h.login(person.openids[appidOf(h, 'miniprogram')], appidOf(h, 'miniprogram'));
      // WeChat gives an official account the unionid with snsapi_userinfo only.
      const signed = await signIn(h, 'official_account', {
        person,
        more: { scope: 'openid snsapi_userinfo' },
      });
      const web = await redeemSignedIn(h, signed).expect(200);
      expect(web.body.unionid).to.equal(person.unionid);
      const listed = await h.http.get('/auth/sessions').set(bearer(web.body.access_token)).expect(200);
      const rows = listed.body.sessions.map(
        (s: { device: string; app: { kind: string }; current: boolean }) => [s.app.kind, s.device, s.current],
      );
      expect(rows).to.have.deep.members([
        ['official_account', 'Web (official account)', true],
        ['miniprogram', null, false],
      ]);
      const fromMini = await h.http.get('/auth/sessions').set(bearer(mini.access_token)).expect(200);
      expect(fromMini.body.sessions).to.have.length(2);
    });

    it('carries the unionid an earlier sign-in stored into a silent sign-in (snsapi_base), which WeChat gives none', async () => {
      const person = h.emulator.createUser({ unionid: true });
      const first = await signIn(h, 'official_account', {
        person,
        more: { scope: 'openid snsapi_userinfo' },
      });
      await redeemSignedIn(h, first).expect(200);
      const silent = await signIn(h, 'official_account', { person, more: { scope: 'openid' } });
      const tokens = await redeemSignedIn(h, silent).expect(200);
      expect(tokens.body.unionid).to.equal(person.unionid);
      expect(decodeJwt(tokens.body.id_token).unionid).to.equal(person.unionid);
    });

    it('writes no code, state or token of a sign-in into any log line', async () => {
      const from = h.logs.length;
      const signed = await signIn(h, 'official_account');
      const tokens = await redeemSignedIn(h, signed).expect(200);
      const wechatCode = new URL(`${PUBLIC_URL}${signed.callback}`).searchParams.get('code') as string;
      const logged = h.logs.slice(from).join('\n');
      expect(logged).to.include('/oauth/token');
      for (const secret of [
        wechatCode,
        signed.ourState,
        signed.code,
        signed.pair.verifier,
        tokens.body.refresh_token,
        tokens.body.access_token,
        tokens.body.id_token,
      ]) {
        expect(logged).not.to.include(secret);
      }
    });

    it('answers userinfo with sub and the unionid for a Bearer token, and 401 without one', async () => {
      const person = h.emulator.createUser({ unionid: true });
      const signed = await signIn(h, 'website', { person });
      const tokens = await redeemSignedIn(h, signed).expect(200);
      const res = await h.http.get('/oauth/userinfo').set(bearer(tokens.body.access_token)).expect(200);
      expect(res.body).to.deep.equal({ sub: signed.openid, unionid: person.unionid });
      expect(res.headers['cache-control']).to.equal('no-store');
      const noUnion = await redeemSignedIn(h, await signIn(h, 'website')).expect(200);
      const bare = await h.http.get('/oauth/userinfo').set(bearer(noUnion.body.access_token)).expect(200);
      expect(bare.body).to.deep.equal({ sub: noUnion.body.openid });
      await h.http.get('/oauth/userinfo').expect(401);
    });
  });

  describe('authorization requests that never redirect', () => {
    async function refusedPage(params: Record<string, string | undefined>, says: RegExp) {
      const res = await h.http.get(authorizePath(params)).expect(400);
      expect(res.headers).not.to.have.property('location');
      expect(res.headers['content-type']).to.equal('text/html; charset=utf-8');
      expect(res.headers['cache-control']).to.equal('no-store');
      expect(res.text).to.match(says);
      expect(res.text.length).to.be.below(1000);
      return res;
    }

    for (const [what, uri] of [
      ['one character differing', 'https://pages.example.com/cc'],
      ['another case', 'https://pages.example.com/CB'],
      ['a host in another case', 'https://Pages.example.com/cb'],
      ['a trailing slash', 'https://pages.example.com/cb/'],
      ['a query added', 'https://pages.example.com/cb?next=https://evil.example'],
      ['a fragment added', 'https://pages.example.com/cb#x'],
      ['userinfo before the host', 'https://evil@pages.example.com/cb'],
      ['userinfo making the host another', 'https://pages.example.com@evil.example/cb'],
      ['an encoded host', 'https://pages%2Eexample.com/cb'],
      ['an encoded path', 'https://pages.example.com/%63b'],
      ['a port', 'https://pages.example.com:443/cb'],
      ['http', 'http://pages.example.com/cb'],
      ["another app's registered URI", WEB_REDIRECT],
    ] as const) {
      it(`refuses a redirect_uri with ${what} with a 400 page, no Location`, async () => {
        const params = authorizeParams(h, 'official_account', pkce(), { redirect_uri: uri });
        await refusedPage({ ...params }, /redirect_uri is not one registered/);
      });
    }

    it('refuses a missing redirect_uri, and one given twice, with a page', async () => {
      const params = authorizeParams(h, 'official_account', pkce());
      await refusedPage({ ...params, redirect_uri: undefined }, /no redirect_uri/);
      const twice = `${authorizePath({ ...params })}&redirect_uri=${encodeURIComponent(OA_REDIRECT)}`;
      const res = await h.http.get(twice).expect(400);
      expect(res.headers).not.to.have.property('location');
    });

    it('refuses an unknown client_id, a missing one and one given twice with a page', async () => {
      const params = authorizeParams(h, 'official_account', pkce());
      await refusedPage(
        { ...params, client_id: 'wx0000000000000000' },
        /not an official account or website app/,
      );
      await refusedPage({ ...params, client_id: undefined }, /no client_id/);
      const twice = `${authorizePath({ ...params })}&client_id=${params.client_id}`;
      expect((await h.http.get(twice).expect(400)).headers).not.to.have.property('location');
    });

    it("refuses a mini-program's client_id with a page, whatever the redirect_uri", async () => {
      const params = authorizeParams(h, 'official_account', pkce(), { client_id: appidOf(h, 'miniprogram') });
      await refusedPage({ ...params }, /not an official account or website app/);
    });

    it('says it without echoing what was sent (escaped, no markup from the request)', async () => {
      const params = authorizeParams(h, 'official_account', pkce(), {
        client_id: '<script>alert(1)</script>',
        redirect_uri: 'javascript:alert(1)',
      });
      const res = await refusedPage({ ...params }, /Sign-in failed/);
      expect(res.text).not.to.include('<script>');
      expect(res.text).not.to.include('javascript:');
      expect(res.headers['content-security-policy']).to.match(/default-src 'none'/);
    });
  });

  describe('authorization requests redirected back with an error', () => {
    async function refusedBack(params: Record<string, string | undefined>, error = 'invalid_request') {
      const res = await h.http.get(authorizePath(params)).expect(302);
      const location = res.headers.location as string;
      expect(location.startsWith(`${params.redirect_uri}?`)).to.equal(true, location);
      const query = queryOf(location);
      expect(query).to.include({ error, state: params.state, iss: PUBLIC_URL });
      expect(query).not.to.have.property('code');
      return query;
    }

    it('requires PKCE: a missing code_challenge or code_challenge_method is invalid_request', async () => {
      const params = authorizeParams(h, 'official_account', pkce());
      const query = await refusedBack({ ...params, code_challenge: undefined });
      expect(query.error_description).to.match(/PKCE/);
      await refusedBack({ ...params, code_challenge_method: undefined });
    });

    it('refuses code_challenge_method plain, and any other than S256', async () => {
      const params = authorizeParams(h, 'official_account', pkce());
      const query = await refusedBack({ ...params, code_challenge_method: 'plain' });
      expect(query.error_description).to.match(/S256/);
      await refusedBack({ ...params, code_challenge_method: 's256' });
    });

    it('refuses a malformed code_challenge (too short, too long, not base64url)', async () => {
      const params = authorizeParams(h, 'official_account', pkce());
      const good = params.code_challenge as string;
      for (const challenge of [good.slice(1), `${good}A`, `${good.slice(1)}+`, `${good.slice(1)}=`, '']) {
        await refusedBack({ ...params, code_challenge: challenge });
      }
    });

    it('refuses a missing response_type (invalid_request) and another one (unsupported_response_type)', async () => {
      const params = authorizeParams(h, 'website', pkce());
      await refusedBack({ ...params, response_type: undefined });
      await refusedBack({ ...params, response_type: 'token' }, 'unsupported_response_type');
      await refusedBack({ ...params, response_type: 'code id_token' }, 'unsupported_response_type');
    });

    it('refuses a parameter given twice, and an unprintable nonce or scope', async () => {
      const params = authorizeParams(h, 'website', pkce());
      const twice = await h.http.get(`${authorizePath({ ...params })}&nonce=a&nonce=b`).expect(302);
      expect(queryOf(twice.headers.location)).to.include({ error: 'invalid_request', state: params.state });
      await refusedBack({ ...params, nonce: 'a\u0000b' });
      await refusedBack({ ...params, scope: 'openid "x"' });
    });

    it('answers prompt=none with login_required for a website and consent_required for snsapi_userinfo, and lets a silent snsapi_base through', async () => {
      const pair = pkce();
      for (const [kind, scope, error] of [
        ['website', 'openid', 'login_required'],
        ['official_account', 'openid snsapi_userinfo', 'consent_required'],
      ] as const) {
        const params = authorizeParams(h, kind, pair, { scope });
        const res = await h.http.get(`${authorizePath({ ...params })}&prompt=none`).expect(302);
        expect(queryOf(res.headers.location as string)).to.include({ error, state: params.state });
      }
      const silent = authorizeParams(h, 'official_account', pair, { scope: 'openid' });
      const res = await h.http.get(`${authorizePath({ ...silent })}&prompt=none`).expect(302);
      expect(res.headers.location as string).to.contain('/connect/oauth2/authorize?');
    });

    it('refuses request objects and other response modes rather than ignoring them (OIDC Core §6)', async () => {
      const params = authorizeParams(h, 'website', pkce());
      await refusedBack({ ...params, request: 'eyJhbGciOiJub25lIn0.e30.' }, 'request_not_supported');
      await refusedBack({ ...params, request_uri: 'https://evil.example/r' }, 'request_uri_not_supported');
      await refusedBack({ ...params, response_mode: 'fragment' });
      await h.http.get(authorizePath({ ...params, response_mode: 'query' })).expect(302);
    });

    it('does not echo a state that is no state a client sends', async () => {
      const params = authorizeParams(h, 'website', pkce(), { state: 'x'.repeat(2000) });
      const res = await h.http.get(authorizePath({ ...params })).expect(302);
      const query = queryOf(res.headers.location);
      expect(query.error).to.equal('invalid_request');
      expect(query).not.to.have.property('state');
    });
  });

  describe('the callback', () => {
    async function refusedCallback(path: string) {
      const res = await h.http.get(path).expect(400);
      expect(res.headers).not.to.have.property('location');
      expect(res.headers['content-type']).to.equal('text/html; charset=utf-8');
      return res;
    }

    it('refuses an unknown state, a malformed one and none with a page, never redirecting', async () => {
      const { code } = h.emulator.login(undefined, { appid: appidOf(h, 'website') });
      await refusedCallback(`/oauth/callback?code=${code}&state=${'0'.repeat(64)}`);
      await refusedCallback(`/oauth/callback?code=${code}&state=not-ours`);
      await refusedCallback(`/oauth/callback?code=${code}`);
    });

    it("refuses a state fixed by someone else: the client's own state, or ours in another case", async () => {
      const params = authorizeParams(h, 'website', pkce());
      const ours = await startAt(h, params);
      const { code } = h.emulator.login(undefined, { appid: appidOf(h, 'website') });
      await refusedCallback(`/oauth/callback?code=${code}&state=${encodeURIComponent(params.state!)}`);
      await refusedCallback(`/oauth/callback?code=${code}&state=${ours.toUpperCase()}`);
      // Ours still works once: it was not spent by the forgeries.
      await h.http.get(`/oauth/callback?code=${code}&state=${ours}`).expect(302);
    });

    it('refuses a callback replayed (the same URL again, or the state with another code) with a page', async () => {
      const signed = await signIn(h, 'official_account');
      await refusedCallback(signed.callback);
      const { code } = h.emulator.login(undefined, { appid: appidOf(h, 'official_account') });
      const res = await refusedCallback(`/oauth/callback?code=${code}&state=${signed.ourState}`);
      expect(res.text).to.match(/expired or was already completed/);
    });

    for (const [kind, scope] of [
      ['website', 'openid'],
      ['official_account', 'openid snsapi_userinfo'],
    ] as const) {
      it(`sends a person who refused on WeChat's page (${kind}, no code) back to the client with access_denied`, async () => {
        const params = authorizeParams(h, kind, pkce(), { scope });
        const started = await h.http.get(authorizePath({ ...params })).expect(302);
        const callback = atWechat(h, started.headers.location, { decision: 'refuse' });
        expect(new URL(`${PUBLIC_URL}${callback}`).searchParams.has('code')).to.equal(false);
        const res = await h.http.get(callback).expect(302);
        expect(res.headers.location.startsWith(`${params.redirect_uri}?`)).to.equal(true);
        expect(queryOf(res.headers.location)).to.deep.include({
          error: 'access_denied',
          state: params.state,
          iss: PUBLIC_URL,
        });
      });
    }

    it('sends a 朋友圈 snapshot page (is_snapshotuser: 1) back with access_denied, and keeps nobody of its virtual identity', async () => {
      const params = authorizeParams(h, 'official_account', pkce());
      const started = await h.http.get(authorizePath({ ...params })).expect(302);
      const person = h.emulator.createUser({ unionid: true });
      const callback = atWechat(h, started.headers.location, { openid: person.openid, snapshot: true });
      const res = await h.http.get(callback).expect(302);
      const query = queryOf(res.headers.location);
      expect(query).to.include({ error: 'access_denied', state: params.state, iss: PUBLIC_URL });
      expect(query.error_description).to.match(/朋友圈 snapshot/);
      expect(query).not.to.have.property('code');
      expect(await h.store.getAccount(person.openid)).to.equal(null);
    });

    it('sends the browser back with access_denied when WeChat refuses the code (errcode), and the state is spent', async () => {
      const params = authorizeParams(h, 'official_account', pkce());
      const ours = await startAt(h, params);
      h.emulator.setFault({ api: 'oauth2_access_token', mode: 'errcode', errcode: 40029 });
      const { code } = h.emulator.login(undefined, { appid: appidOf(h, 'official_account') });
      const res = await h.http.get(`/oauth/callback?code=${code}&state=${ours}`).expect(302);
      expect(queryOf(res.headers.location)).to.include({ error: 'access_denied', state: params.state });
      await refusedCallback(`/oauth/callback?code=${code}&state=${ours}`);
    });

    it('sends the browser back with temporarily_unavailable when WeChat is down, never a 5xx page', async () => {
      const params = authorizeParams(h, 'official_account', pkce());
      const ours = await startAt(h, params);
      h.emulator.setFault({ api: 'oauth2_access_token', mode: 'http500' });
      const { code } = h.emulator.login(undefined, { appid: appidOf(h, 'official_account') });
      const res = await h.http.get(`/oauth/callback?code=${code}&state=${ours}`).expect(302);
      expect(queryOf(res.headers.location)).to.include({
        error: 'temporarily_unavailable',
        state: params.state,
      });
    });

    it('omits state in the redirect back when the client sent none', async () => {
      const signed = await signIn(h, 'website', { more: { state: undefined } });
      expect(signed.query).to.deep.equal({ code: signed.code, iss: PUBLIC_URL });
      await redeemSignedIn(h, signed).expect(200);
    });
  });

  describe('the token endpoint', () => {
    async function refused(
      res: { status: number; body: { error: string; error_description: string } },
      error: string,
    ) {
      expect(res.body.error).to.equal(error);
      expect(res.body.error_description).to.be.a('string');
    }

    it('refuses a code issued to client A and redeemed by client B (invalid_grant), with either redirect_uri', async () => {
      const signed = await signIn(h, 'official_account');
      const res = await redeemSignedIn(h, signed, {
        client_id: appidOf(h, 'website'),
        redirect_uri: WEB_REDIRECT,
      }).expect(400);
      await refused(res, 'invalid_grant');
      // Client B naming A's redirect_uri and holding the verifier: only the client_id differs.
      const again = await signIn(h, 'official_account');
      await refused(
        await redeemSignedIn(h, again, { client_id: appidOf(h, 'website') }).expect(400),
        'invalid_grant',
      );
    });

    it('refuses a code presented with another redirect_uri, even one registered for the client', async () => {
      const signed = await signIn(h, 'official_account');
      await refused(
        await redeemSignedIn(h, signed, { redirect_uri: OA_OTHER_REDIRECT }).expect(400),
        'invalid_grant',
      );
    });

    it('refuses a missing code_verifier, a wrong one and a malformed one (invalid_grant)', async () => {
      for (const verifier of [undefined, pkce().verifier, 'short', `${pkce().verifier}!`]) {
        const signed = await signIn(h, 'website');
        const res = await redeemSignedIn(h, signed, { code_verifier: verifier }).expect(400);
        await refused(res, 'invalid_grant');
      }
    });

    it('spends a code on a failed attempt: the right verifier after a wrong one is refused too', async () => {
      const signed = await signIn(h, 'website');
      await redeemSignedIn(h, signed, { code_verifier: pkce().verifier }).expect(400);
      await refused(await redeemSignedIn(h, signed).expect(400), 'invalid_grant');
    });

    it('refuses a code older than 60 s by the clock, and takes one of 59 s', async () => {
      const late = await signIn(h, 'website');
      h.clock.advance(60_001);
      await refused(await redeemSignedIn(h, late).expect(400), 'invalid_grant');
      const inTime = await signIn(h, 'website');
      h.clock.advance(59_000);
      await redeemSignedIn(h, inTime).expect(200);
    });

    it('refuses a code used twice and ends the session it gave: its refresh token refused, its access token 401', async () => {
      const signed = await signIn(h, 'official_account');
      const first = await redeemSignedIn(h, signed).expect(200);
      await h.http.get('/auth/me').set(bearer(first.body.access_token)).expect(200);
      const second = await redeemSignedIn(h, signed).expect(400);
      await refused(second, 'invalid_grant');
      expect(second.body).not.to.have.property('access_token');
      await h.http.get('/auth/me').set(bearer(first.body.access_token)).expect(401);
      const refresh = await redeem(h, {
        grant_type: 'refresh_token',
        refresh_token: first.body.refresh_token,
      });
      expect(refresh.status).to.equal(400);
      await refused(refresh, 'invalid_grant');
    });

    it('ends the session a code gave when the replay races its redemption (the replay arriving while the session opens)', async () => {
      for (let round = 0; round < 5; round += 1) {
        const signed = await signIn(h, 'website');
        const answers = await Promise.all([redeemSignedIn(h, signed), redeemSignedIn(h, signed)]);
        // The replay ends the session, or the redemption sees the replay and ends its own: both 400 then.
        const statuses = answers.map((a) => a.status).sort();
        expect(String(statuses)).to.be.oneOf(['200,400', '400,400']);
        for (const issued of answers.filter((a) => a.status === 200)) {
          await h.http.get('/auth/me').set(bearer(issued.body.access_token)).expect(401);
        }
      }
    });

    it('ends the session even when the replay comes from another client with another verifier', async () => {
      const signed = await signIn(h, 'official_account');
      const first = await redeemSignedIn(h, signed).expect(200);
      await redeemSignedIn(h, signed, {
        client_id: appidOf(h, 'website'),
        code_verifier: pkce().verifier,
      }).expect(400);
      await h.http.get('/auth/me').set(bearer(first.body.access_token)).expect(401);
    });

    it('refuses an unknown code, and one that is no code of ours, with invalid_grant', async () => {
      const signed = await signIn(h, 'website');
      await refused(await redeemSignedIn(h, signed, { code: 'A'.repeat(43) }).expect(400), 'invalid_grant');
      await refused(await redeemSignedIn(h, signed, { code: 'not a code' }).expect(400), 'invalid_grant');
      await redeemSignedIn(h, signed).expect(200);
    });

    it('answers invalid_client for an unknown client_id and for a mini-program, without spending the code', async () => {
      const signed = await signIn(h, 'website');
      for (const clientId of ['wx0000000000000000', appidOf(h, 'miniprogram')]) {
        const res = await redeemSignedIn(h, signed, { client_id: clientId }).expect(401);
        await refused(res, 'invalid_client');
      }
      await redeemSignedIn(h, signed).expect(200);
    });

    it('answers unsupported_grant_type, and invalid_request for missing fields or one given twice', async () => {
      await refused(await redeem(h, { grant_type: 'password' }).expect(400), 'unsupported_grant_type');
      await refused(await redeem(h, {}).expect(400), 'invalid_request');
      const signed = await signIn(h, 'website');
      for (const missing of ['code', 'redirect_uri', 'client_id']) {
        await refused(
          await redeemSignedIn(h, signed, { [missing]: undefined }).expect(400),
          'invalid_request',
        );
      }
      const twice = await h.http
        .post('/oauth/token')
        .type('form')
        .send(`grant_type=authorization_code&code=${signed.code}&code=${signed.code}`)
        .expect(400);
      await refused(twice, 'invalid_request');
      await refused(await redeem(h, { grant_type: 'refresh_token' }).expect(400), 'invalid_request');
      await redeemSignedIn(h, signed).expect(200);
    });

    it("refuses a banned person's code with invalid_grant, opening no session", async () => {
      const signed = await signIn(h, 'website');
      await h.store.banUser(signed.openid, { reason: 'test' }, h.clock.now());
      const res = await redeemSignedIn(h, signed).expect(400);
      await refused(res, 'invalid_grant');
      expect(await h.store.listSessions(signed.openid, h.clock.now())).to.deep.equal([]);
    });

    it('keeps /auth/refresh refusing other grant types', async () => {
      const res = await h.http
        .post('/auth/refresh')
        .type('form')
        .send({ grant_type: 'authorization_code', refresh_token: 'x' })
        .expect(400);
      expect(res.body.error).to.equal('invalid_request');
    });
  });

  describe('discovery', () => {
    it('names the authorization server: endpoints, code + S256, pairwise subjects, iss in responses', async () => {
      for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
        const res = await h.http.get(path).expect(200);
        expect(res.body).to.deep.include({
          issuer: PUBLIC_URL,
          authorization_endpoint: `${PUBLIC_URL}/oauth/authorize`,
          token_endpoint: `${PUBLIC_URL}/oauth/token`,
          userinfo_endpoint: `${PUBLIC_URL}/oauth/userinfo`,
          response_types_supported: ['code'],
          code_challenge_methods_supported: ['S256'],
          subject_types_supported: ['pairwise'],
          grant_types_supported: ['authorization_code', 'refresh_token'],
          token_endpoint_auth_methods_supported: ['none'],
          id_token_signing_alg_values_supported: ['ES256'],
          authorization_response_iss_parameter_supported: true,
          request_parameter_supported: false,
          request_uri_parameter_supported: false,
        });
        expect(res.body.scopes_supported).to.include.members(['openid', 'snsapi_userinfo']);
        expect(res.body.claims_supported).to.include.members(['sub', 'aud', 'auth_time', 'nonce', 'unionid']);
      }
    });
  });

  describe('CORS', () => {
    const ALLOWED = 'https://pages.example.com';

    it("answers the token endpoint to a redirect URI's origin, errors included, and nothing to another origin", async () => {
      const signed = await signIn(h, 'website');
      const ok = await redeemSignedIn(h, signed).set('Origin', 'https://shop.example.com').expect(200);
      expect(ok.headers['access-control-allow-origin']).to.equal('https://shop.example.com');
      expect(ok.headers.vary).to.match(/Origin/);
      const error = await redeem(h, { grant_type: 'password' }).set('Origin', ALLOWED).expect(400);
      expect(error.headers['access-control-allow-origin']).to.equal(ALLOWED);
      for (const origin of [
        'https://evil.example',
        'https://pages.example.com.evil.example',
        'null',
        `${ALLOWED}:8443`,
      ]) {
        const other = await redeem(h, { grant_type: 'password' }).set('Origin', origin).expect(400);
        expect(other.headers).not.to.have.property('access-control-allow-origin');
      }
    });

    it('answers a preflight of the token endpoint from an allowed origin, and gives another origin no CORS header', async () => {
      const allowed = await h.http
        .options('/oauth/token')
        .set('Origin', ALLOWED)
        .set('Access-Control-Request-Method', 'POST')
        .set('Access-Control-Request-Headers', 'content-type')
        .expect(204);
      expect(allowed.headers).to.include({
        'access-control-allow-origin': ALLOWED,
        'access-control-allow-methods': 'POST',
      });
      expect(allowed.headers['access-control-allow-headers']).to.match(/content-type/i);
      const other = await h.http
        .options('/oauth/token')
        .set('Origin', 'https://evil.example')
        .set('Access-Control-Request-Method', 'POST');
      expect(other.headers).not.to.have.property('access-control-allow-origin');
    });

    it('answers discovery and the JWKS to allowed origins only', async () => {
      for (const path of ['/.well-known/openid-configuration', '/.well-known/jwks.json']) {
        const allowed = await h.http.get(path).set('Origin', ALLOWED).expect(200);
        expect(allowed.headers['access-control-allow-origin']).to.equal(ALLOWED);
        const other = await h.http.get(path).set('Origin', 'https://evil.example').expect(200);
        expect(other.headers).not.to.have.property('access-control-allow-origin');
      }
    });

    it('gives the browser routes no CORS header (they are navigations)', async () => {
      const res = await h.http.get('/oauth/authorize').set('Origin', ALLOWED).expect(400);
      expect(res.headers).not.to.have.property('access-control-allow-origin');
    });
  });

  describe('hostile input', () => {
    const GARBAGE = [
      '',
      ' ',
      '%00',
      '%ZZ',
      '%E0%A4%A',
      'ｃｏｄｅ',
      '\u202e',
      'a'.repeat(20_000),
      '[]',
      '{}',
      '<svg onload=alert(1)>',
      'https://evil.example/',
    ];

    it('answers every garbage value of every authorize parameter without a 5xx', async () => {
      const params = authorizeParams(h, 'official_account', pkce());
      for (const name of Object.keys(params)) {
        for (const value of GARBAGE) {
          const raw = `/oauth/authorize?${Object.entries(params)
            .map(([k, v]) => `${k}=${k === name ? value : encodeURIComponent(v as string)}`)
            .join('&')}`;
          const res = await h.http.get(raw);
          // 431: Node's own limit on a request line of 20 kB, before any of ours.
          expect(res.status, `${name}=${value.slice(0, 20)}`).to.be.oneOf([302, 400, 431]);
        }
        for (const shape of [
          `${name}[]=a`,
          `${name}[a]=b`,
          `${name}=a&${name}=b`,
          '__proto__=x',
          'constructor[prototype]=x',
        ]) {
          const res = await h.http.get(`${authorizePath({ ...params })}&${shape}`);
          expect(res.status, shape).to.be.oneOf([302, 400]);
        }
      }
    });

    it('answers every garbage value at the callback without a 5xx', async () => {
      for (const value of GARBAGE) {
        for (const name of ['code', 'state', 'error']) {
          const res = await h.http.get(`/oauth/callback?${name}=${value}&state=${'a'.repeat(64)}`);
          expect(res.status, `${name}=${value.slice(0, 20)}`).to.be.oneOf([400, 431]);
        }
      }
      const ours = await startAt(h, authorizeParams(h, 'website', pkce()));
      for (const value of GARBAGE.slice(0, 4)) {
        // A garbage code with a live state: WeChat refuses it, the browser goes back with an error.
        const fresh = await startAt(h, authorizeParams(h, 'website', pkce()));
        const res = await h.http.get(`/oauth/callback?code=${value}x&state=${fresh}`);
        expect(res.status, value).to.be.oneOf([302, 400]);
      }
      await h.http.get(`/oauth/callback?code=a&code=b&state=${ours}`).expect(302);
    });

    it('answers every garbage value of every token parameter without a 5xx', async () => {
      const fields = ['grant_type', 'code', 'redirect_uri', 'client_id', 'code_verifier', 'refresh_token'];
      for (const name of fields) {
        for (const value of GARBAGE) {
          const res = await h.http
            .post('/oauth/token')
            .type('form')
            .send(`grant_type=authorization_code&${name}=${value}`);
          expect(res.status, `${name}=${value.slice(0, 20)}`).to.be.within(400, 499);
          expect(res.body).to.have.property('error');
        }
        const nested = await h.http.post('/oauth/token').type('form').send(`${name}[a]=1`);
        expect(nested.status).to.be.within(400, 499);
      }
      for (const body of ['{"grant_type":', '[1]', 'null', '"x"']) {
        const res = await h.http.post('/oauth/token').set('Content-Type', 'application/json').send(body);
        expect(res.status, body).to.equal(400);
      }
      const text = await h.http.post('/oauth/token').set('Content-Type', 'text/plain').send('grant_type=x');
      expect(text.status).to.equal(400);
    });
  });
});

describe('OAuth token endpoint: the per-user refresh limit', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ apps: OAUTH_APPS, env: { ...OAUTH_ENV, RATE_LIMIT_REFRESH_PER_USER: '2/60' } });
  });
  after(async () => {
    await h.close();
  });

  it('counts refreshes at /oauth/token and /auth/refresh against one allowance of the user', async () => {
    let tokens = (await redeemSignedIn(h, await signIn(h, 'website')).expect(200)).body;
    tokens = (
      await redeem(h, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }).expect(200)
    ).body;
    tokens = (await h.http.post('/auth/refresh').send({ refresh_token: tokens.refresh_token }).expect(200))
      .body;
    const refused = await redeem(h, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
    }).expect(429);
    expect(refused.body.error).to.equal('rate_limited');
  });
});
