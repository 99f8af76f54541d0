import { expect } from 'chai';
import { type Harness, startHarness } from '../helpers/harness.js';
import {
  appidOf,
  authorizeParams,
  authorizePath,
  bearer,
  OAUTH_APPS,
  OAUTH_ENV,
  pkce,
  redeem,
  redeemSignedIn,
  signIn,
} from '../helpers/oauth.js';

/**
 * Attacks on the browser login and on persons that a red-team review tried and the service withstood,
 * kept as tests so that they keep being withstood. Each names the attack.
 */
describe('attacks on the browser login and on persons, refused', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ apps: OAUTH_APPS, env: OAUTH_ENV });
  });
  after(async () => {
    await h.close();
  });

  describe('open redirect through redirect_uri spellings the browser would take for another place', () => {
    for (const uri of [
      'https://pages.example.com\\@evil.example/cb',
      'https://pages.example.com/cb/../cb',
      'https://pages.example.com/./cb',
      'https://pages.example.com/x/../cb',
      'https://pages.example.com./cb',
      'https://pages.example.com/cb?',
      'https://pages.example.com/cb%3F',
      'https://pages.example.com/cb%23x',
      'https://pages.example.com/cb\t',
      'https://pages.example.com/c\nb',
      'https:pages.example.com/cb',
      'https:/pages.example.com/cb',
      '//pages.example.com/cb',
      'HTTPS://pages.example.com/cb',
      'https://xn--pags-bpa.example.com/cb',
      'https://pagés.example.com/cb',
      'https://pages.example.com:443/cb',
      'https://pages.example.com/cb;evil',
      ' https://pages.example.com/cb',
    ]) {
      it(`answers a page, never a Location, for redirect_uri ${JSON.stringify(uri)}`, async () => {
        const params = authorizeParams(h, 'official_account', pkce(), { redirect_uri: uri });
        const res = await h.http.get(authorizePath({ ...params })).expect(400);
        expect(res.headers).not.to.have.property('location');
      });
    }
  });

  it('gives no CORS header to origins that merely resemble a redirect URI origin', async () => {
    for (const origin of [
      'HTTPS://PAGES.EXAMPLE.COM',
      'https://pages.example.com/',
      'https://pages.example.com.',
      'https://evilpages.example.com',
      'https://pages.example.com:443',
      'http://pages.example.com',
      'null',
      'https://pages.example.com, https://evil.example',
    ]) {
      const res = await redeem(h, { grant_type: 'password' }).set('Origin', origin).expect(400);
      expect(res.headers, origin).not.to.have.property('access-control-allow-origin');
      const preflight = await h.http
        .options('/oauth/token')
        .set('Origin', origin)
        .set('Access-Control-Request-Method', 'POST');
      expect(preflight.headers, origin).not.to.have.property('access-control-allow-origin');
    }
  });

  it('leaves no session alive when one code is redeemed four times at once by two clients', async () => {
    for (let round = 0; round < 3; round += 1) {
      const signed = await signIn(h, 'website');
      const answers = await Promise.all([
        redeemSignedIn(h, signed),
        redeemSignedIn(h, signed),
        redeemSignedIn(h, signed, { client_id: appidOf(h, 'official_account') }),
        redeemSignedIn(h, signed),
      ]);
      expect(answers.filter((a) => a.status === 200).length).to.be.at.most(1);
      for (const issued of answers.filter((a) => a.status === 200)) {
        await h.http.get('/auth/me').set(bearer(issued.body.access_token)).expect(401);
        await redeem(h, { grant_type: 'refresh_token', refresh_token: issued.body.refresh_token }).expect(
          400,
        );
      }
    }
  });

  it("refuses a website's code redeemed by the official account with its own redirect_uri and a fresh verifier (mix-up)", async () => {
    const signed = await signIn(h, 'website');
    const res = await redeemSignedIn(h, signed, {
      client_id: appidOf(h, 'official_account'),
      redirect_uri: 'https://pages.example.com/cb',
      code_verifier: pkce().verifier,
    }).expect(400);
    expect(res.body.error).to.equal('invalid_grant');
  });

  it('refuses an ID token as a Bearer token at forward auth and the open-data routes', async () => {
    const signed = await signIn(h, 'official_account');
    const { id_token: idToken } = (await redeemSignedIn(h, signed).expect(200)).body;
    await h.http.get('/auth/verify').set(bearer(idToken)).expect(401);
    await h.http.get('/wechat/session').set(bearer(idToken)).expect(401);
  });

  it("refuses a browser session's access token at the open-data routes (no session_key of a mini-program)", async () => {
    const signed = await signIn(h, 'website');
    const { access_token: token } = (await redeemSignedIn(h, signed).expect(200)).body;
    const res = await h.http
      .post('/wechat/decrypt')
      .set(bearer(token))
      .send({ encryptedData: 'AAAA', iv: 'AAAAAAAAAAAAAAAAAAAAAA==' });
    expect(res.status).to.equal(400);
  });

  it("ends nothing of another person's when a person names that person's session id", async () => {
    const mallory = h.emulator.createUser({ unionid: true, appid: appidOf(h, 'miniprogram') });
    const alice = h.emulator.createUser({ unionid: true, appid: appidOf(h, 'miniprogram') });
    const viaMallory = await h.login(mallory.openid, appidOf(h, 'miniprogram'));
    const viaAlice = await h.login(alice.openid, appidOf(h, 'miniprogram'));
    const aliceSessions = (await h.http.get('/auth/sessions').set(bearer(viaAlice.access_token)).expect(200))
      .body.sessions as Array<{ id: string }>;
    for (const { id } of aliceSessions) {
      await h.http.delete(`/auth/sessions/${id}`).set(bearer(viaMallory.access_token)).expect(204);
    }
    await h.http.post('/auth/logout').set(bearer(viaMallory.access_token)).send({ all: true }).expect(204);
    await h.http.get('/auth/me').set(bearer(viaAlice.access_token)).expect(200);
    await redeem(h, { grant_type: 'refresh_token', refresh_token: viaAlice.refresh_token }).expect(200);
  });

  it('links no identity to another person through a browser sign-in: the unionid is WeChat’s, never the request’s', async () => {
    const victim = h.emulator.createUser({ unionid: true, appid: appidOf(h, 'miniprogram') });
    const viaVictim = await h.login(victim.openid, appidOf(h, 'miniprogram'));
    const attacker = h.emulator.createUser({ unionid: true });
    // Every parameter a client controls, naming the victim's unionid and openid.
    const signed = await signIn(h, 'website', {
      person: attacker,
      more: { scope: `openid unionid:${victim.unionid}`, nonce: victim.unionid, state: victim.openid },
    });
    const tokens = (await redeemSignedIn(h, signed, { unionid: victim.unionid }).expect(200)).body;
    expect(tokens.unionid).to.equal(attacker.unionid);
    const listed = (await h.http.get('/auth/sessions').set(bearer(tokens.access_token)).expect(200)).body
      .sessions as unknown[];
    expect(listed).to.have.length(1);
    await h.http.get('/auth/me').set(bearer(viaVictim.access_token)).expect(200);
  });
});
