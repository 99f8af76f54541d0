import { expect } from 'chai';
import { decodeJwt } from 'jose';
import { type Harness, startHarness } from '../helpers/harness.js';
import {
  appidOf,
  authorizeParams,
  OAUTH_APPS,
  OAUTH_ENV,
  pkce,
  queryOf,
  redeemSignedIn,
  signIn,
  startAt,
} from '../helpers/oauth.js';
import { type WechatRewrite, wechatRewrite } from '../helpers/wechat-rewrite.js';

/**
 * What WeChat answers that the emulator does not play: the exchange without a unionid (an official
 * account's, which then asks sns/userinfo for it). The service talks to the emulator through a hop that
 * takes the unionid out of the exchange's answers.
 */
describe('OAuth browser login: what WeChat answers at the exchange', () => {
  let h: Harness;
  let hop: WechatRewrite;
  before(async () => {
    hop = await wechatRewrite();
    h = await startHarness({ apps: OAUTH_APPS, env: { ...OAUTH_ENV, WECHAT_API_BASE: hop.url } });
    hop.target = h.emulator.url;
  });
  after(async () => {
    await h.close();
    await hop.close();
  });
  afterEach(() => {
    hop.rewrite = undefined;
  });

  const withoutUnionid = (path: string, body: Record<string, unknown>) => {
    if (path !== '/sns/oauth2/access_token') return body;
    const { unionid: _, ...rest } = body;
    return rest;
  };

  it("asks sns/userinfo for the unionid of an official account's snsapi_userinfo sign-in when the exchange gave none", async () => {
    hop.rewrite = withoutUnionid;
    const person = h.emulator.createUser({ unionid: true });
    const before = h.emulator.calls('userinfo');
    const signed = await signIn(h, 'official_account', {
      person,
      more: { scope: 'openid snsapi_userinfo' },
    });
    expect(h.emulator.calls('userinfo') - before).to.equal(1);
    const res = await redeemSignedIn(h, signed).expect(200);
    expect(res.body.unionid).to.equal(person.unionid);
    expect(decodeJwt(res.body.id_token).unionid).to.equal(person.unionid);
  });

  it('does not ask sns/userinfo for a snsapi_base sign-in (WeChat refuses it that grant)', async () => {
    hop.rewrite = withoutUnionid;
    const person = h.emulator.createUser({ unionid: true });
    const before = h.emulator.calls('userinfo');
    const signed = await signIn(h, 'official_account', { person });
    expect(h.emulator.calls('userinfo')).to.equal(before);
    const res = await redeemSignedIn(h, signed).expect(200);
    expect(res.body).not.to.have.property('unionid');
  });

  it('sends the browser back with temporarily_unavailable when sns/userinfo fails', async () => {
    hop.rewrite = withoutUnionid;
    const params = authorizeParams(h, 'official_account', pkce(), { scope: 'openid snsapi_userinfo' });
    const ours = await startAt(h, params);
    const person = h.emulator.createUser({ unionid: true });
    const { code } = h.emulator.login(person.openid, {
      appid: appidOf(h, 'official_account'),
      scope: 'snsapi_userinfo',
    });
    h.emulator.setFault({ api: 'userinfo', mode: 'busy' });
    const res = await h.http.get(`/oauth/callback?code=${code}&state=${ours}`).expect(302);
    expect(queryOf(res.headers.location)).to.include({
      error: 'temporarily_unavailable',
      state: params.state,
    });
  });
});
