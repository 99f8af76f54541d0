import { expect } from 'chai';
import { decryptOpenData, sessionKeySignature } from '../../src/crypto/index.js';
import { createEmulator, type EmulatedApp, type Emulator, zeroConfigApps } from '../../src/emulator/index.js';

const RID = /^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$/;
const OPENID = /^o[A-Za-z0-9_-]{27}$/;

interface Answer {
  status: number;
  contentType: string | null;
  text: string;
  body: Record<string, unknown>;
}

describe('WeChat API emulator: several apps of one open-platform account', () => {
  let emulator: Emulator;
  let shop: EmulatedApp;
  let service: EmulatedApp;
  let mobile: EmulatedApp;
  let account: EmulatedApp;
  let website: EmulatedApp;

  beforeEach(async () => {
    emulator = createEmulator({ apps: zeroConfigApps() });
    [shop, service, mobile, account, website] = emulator.apps as [
      EmulatedApp,
      EmulatedApp,
      EmulatedApp,
      EmulatedApp,
      EmulatedApp,
    ];
    await emulator.listen(0);
  });
  afterEach(async () => {
    await emulator.close();
  });

  async function request(path: string, init: RequestInit = {}): Promise<Answer> {
    const res = await fetch(`${emulator.url}${path}`, init);
    const text = await res.text();
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // Left empty: a faulted answer may be no JSON.
    }
    return { status: res.status, contentType: res.headers.get('content-type'), text, body };
  }

  function postJson(path: string, body: unknown): Promise<Answer> {
    return request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  function jscode2session(app: EmulatedApp, code: string, secret = app.secret): Promise<Answer> {
    const query = new URLSearchParams({
      appid: app.appid,
      secret,
      js_code: code,
      grant_type: 'authorization_code',
    });
    return request(`/sns/jscode2session?${query}`);
  }

  function oauthExchange(app: EmulatedApp, code: string | undefined, secret = app.secret): Promise<Answer> {
    const query = new URLSearchParams({ appid: app.appid, secret, grant_type: 'authorization_code' });
    if (code !== undefined) query.set('code', code);
    return request(`/sns/oauth2/access_token?${query}`);
  }

  async function accessToken(app: EmulatedApp): Promise<string> {
    const { body } = await postJson('/cgi-bin/stable_token', {
      grant_type: 'client_credential',
      appid: app.appid,
      secret: app.secret,
    });
    expect(body.access_token, JSON.stringify(body)).to.be.a('string');
    return body.access_token as string;
  }

  function phoneNumber(token: string, code: string): Promise<Answer> {
    return postJson(`/wxa/business/getuserphonenumber?${new URLSearchParams({ access_token: token })}`, {
      code,
    });
  }

  function userinfo(token: string, openid: string): Promise<Answer> {
    return request(`/sns/userinfo?${new URLSearchParams({ access_token: token, openid })}`);
  }

  function expectWechatError(answer: Answer, errcode: number, errmsg: string): void {
    expect(answer.status, answer.text).to.equal(200);
    expect(answer.body.errcode, answer.text).to.equal(errcode);
    const [message, rid] = String(answer.body.errmsg).split(', rid: ');
    expect(message).to.equal(errmsg);
    expect(rid).to.match(RID);
  }

  describe('createEmulator({ apps })', () => {
    it('zeroConfigApps() gives two mini-programs, a mobile app, an official account and a website, each its own credentials', () => {
      expect(emulator.apps.map((app) => app.kind)).to.deep.equal([
        'miniprogram',
        'miniprogram',
        'mobile',
        'official_account',
        'website',
      ]);
      expect(emulator.apps.map((app) => app.name)).to.deep.equal([
        'Shop mini-program',
        'Service mini-program',
        'Mobile app',
        'Official account',
        'Website',
      ]);
      expect(new Set(emulator.apps.map((app) => app.appid)).size).to.equal(5);
      expect(new Set(emulator.apps.map((app) => app.secret)).size).to.equal(5);
      for (const app of emulator.apps) {
        expect(app.appid).to.match(/^wx[0-9a-f]{16}$/);
        expect(app.secret).to.match(/^[0-9a-f]{32}$/);
      }
      expect(zeroConfigApps()[0]!.appid).not.to.equal(shop.appid);
    });

    it('keeps appid and secret as the first app', () => {
      expect(emulator).to.include({ appid: shop.appid, secret: shop.secret });
    });

    it('without apps serves one mini-program of appid and secret, named by its appid', async () => {
      const single = createEmulator({ appid: 'wx0123456789abcdef', secret: 's'.repeat(32) });
      expect(single.apps).to.deep.equal([
        {
          appid: 'wx0123456789abcdef',
          secret: 's'.repeat(32),
          kind: 'miniprogram',
          name: 'wx0123456789abcdef',
        },
      ]);
      await single.close();
    });

    it('refuses appid or secret beside apps, and apps that cannot be meant', () => {
      expect(() => createEmulator({ appid: 'wx1', apps: [{ kind: 'miniprogram' }] })).to.throw(
        TypeError,
        /inside apps/,
      );
      expect(() => createEmulator({ secret: 'x', apps: [{ kind: 'miniprogram' }] })).to.throw(TypeError);
      expect(() => createEmulator({ apps: [] })).to.throw(TypeError, /1 to 100 apps/);
      expect(() => createEmulator({ apps: [{ kind: 'applet' as 'mobile' }] })).to.throw(TypeError, /kind/);
      expect(() =>
        createEmulator({
          apps: [
            { appid: 'wx1', kind: 'miniprogram' },
            { appid: 'wx1', kind: 'mobile' },
          ],
        }),
      ).to.throw(TypeError, /twice/);
      expect(() => createEmulator({ apps: [{ kind: 'mobile', secret: 'has space' }] })).to.throw(TypeError);
    });
  });

  describe('people', () => {
    it('gives a person a different openid in every app and the same unionid in each', async () => {
      const user = emulator.createUser({ unionid: true });
      expect(Object.keys(user.openids)).to.deep.equal(emulator.apps.map((app) => app.appid));
      expect(user.openids[shop.appid]).to.equal(user.openid);
      expect(new Set(Object.values(user.openids)).size).to.equal(5);
      for (const openid of Object.values(user.openids)) expect(openid).to.match(OPENID);

      const inShop = await jscode2session(shop, emulator.login(user.openid).code);
      const inService = await jscode2session(
        service,
        emulator.login(user.openid, { appid: service.appid }).code,
      );
      const inMobile = await oauthExchange(mobile, emulator.login(user.openid, { appid: mobile.appid }).code);
      expect(inShop.body).to.include({ openid: user.openids[shop.appid], unionid: user.unionid });
      expect(inService.body).to.include({ openid: user.openids[service.appid], unionid: user.unionid });
      expect(inMobile.body).to.include({ openid: user.openids[mobile.appid], unionid: user.unionid });
    });

    it('gives a person without a unionid none in any app', async () => {
      const { openid } = emulator.createUser();
      expect(
        (await jscode2session(service, emulator.login(openid, { appid: service.appid }).code)).body,
      ).not.to.have.property('unionid');
      expect(
        (await oauthExchange(mobile, emulator.login(openid, { appid: mobile.appid }).code)).body,
      ).not.to.have.property('unionid');
    });

    it("finds the person by their openid in any app and answers the app's own openid", () => {
      const user = emulator.createUser();
      const serviceOpenid = user.openids[service.appid]!;
      expect(emulator.login(serviceOpenid).openid).to.equal(user.openid);
      expect(emulator.login(serviceOpenid, { appid: website.appid }).openid).to.equal(
        user.openids[website.appid],
      );
    });

    it('creates an unknown person with the openid given as theirs in the app logged in to', () => {
      const { openid } = emulator.login('o-bob', { appid: service.appid });
      expect(openid).to.equal('o-bob');
      expect(emulator.login('o-bob').openid).not.to.equal('o-bob');
    });

    it('derives the other openids from the chosen one, the same on every run with the same apps', async () => {
      const again = createEmulator({ apps: emulator.apps });
      const first = emulator.createUser({ openid: 'o-alice' }).openids;
      expect(again.createUser({ openid: 'o-alice' }).openids).to.deep.equal(first);
      await again.close();
    });

    it("keeps a session_key per mini-program: logging in to one leaves the other's", () => {
      const { openid } = emulator.login();
      const serviceKey = emulator.sessionKeyOf(openid, { appid: service.appid });
      emulator.login(openid);
      expect(emulator.sessionKeyOf(openid, { appid: service.appid })).to.equal(serviceKey);
      expect(emulator.sessionKeyOf(openid)).not.to.equal(serviceKey);
    });
  });

  describe('codes belong to their app and their exchange', () => {
    it("answers another mini-program's code with 40029 and leaves it usable in its own", async () => {
      const { code, openid } = emulator.login();
      expectWechatError(await jscode2session(service, code), 40029, 'invalid code');
      expect((await jscode2session(shop, code)).body.openid).to.equal(openid);
    });

    it('answers a mini-program code at sns/oauth2/access_token and a mobile code at jscode2session with 40029', async () => {
      const miniCode = emulator.login().code;
      expectWechatError(await oauthExchange(shop, miniCode), 40029, 'invalid code');
      const mobileCode = emulator.login(undefined, { appid: mobile.appid }).code;
      expectWechatError(await jscode2session(shop, mobileCode), 40029, 'invalid code');
      expectWechatError(await oauthExchange(website, mobileCode), 40029, 'invalid code');
      // None was used up.
      expect((await jscode2session(shop, miniCode)).body).to.have.property('session_key');
      expect((await oauthExchange(mobile, mobileCode)).body).to.have.property('access_token');
    });

    it('answers jscode2session with the appid of an app that is no mini-program with 40013', async () => {
      const { code } = emulator.login(undefined, { appid: mobile.appid });
      expectWechatError(await jscode2session(mobile, code), 40013, 'invalid appid');
      expectWechatError(await jscode2session(account, 'x'), 40013, 'invalid appid');
    });

    it("answers an app's appid with another app's secret with 40125", async () => {
      expectWechatError(
        await jscode2session(shop, emulator.login().code, service.secret),
        40125,
        'invalid appsecret',
      );
      expectWechatError(await oauthExchange(mobile, 'x', website.secret), 40125, 'invalid appsecret');
      const stable = await postJson('/cgi-bin/stable_token', {
        grant_type: 'client_credential',
        appid: service.appid,
        secret: shop.secret,
      });
      expectWechatError(stable, 40125, 'invalid appsecret');
    });
  });

  describe('GET /sns/oauth2/access_token', () => {
    it("exchanges a mobile app's SendAuth code as WeChat does: text/plain JSON, scope snsapi_userinfo", async () => {
      const user = emulator.createUser({ unionid: true });
      const { code, openid } = emulator.login(user.openid, { appid: mobile.appid });
      const answer = await oauthExchange(mobile, code);
      expect(answer.status).to.equal(200);
      expect(answer.contentType).to.equal('text/plain');
      expect(answer.body).to.have.keys(
        'access_token',
        'expires_in',
        'refresh_token',
        'openid',
        'scope',
        'unionid',
      );
      expect(answer.body).to.include({
        expires_in: 7200,
        openid,
        scope: 'snsapi_userinfo',
        unionid: user.unionid,
      });
      expect(answer.body.access_token).to.be.a('string').and.not.equal(answer.body.refresh_token);
    });

    it('answers a code exchanged twice with 40163', async () => {
      const { code } = emulator.login(undefined, { appid: mobile.appid });
      await oauthExchange(mobile, code);
      expectWechatError(await oauthExchange(mobile, code), 40163, 'code been used');
    });

    it('answers an unknown code with 40029, no code with 41008, an unknown appid with 40013', async () => {
      expectWechatError(await oauthExchange(mobile, 'no-such-code'), 40029, 'invalid code');
      expectWechatError(await oauthExchange(mobile, undefined), 41008, 'missing code');
      const query = new URLSearchParams({ appid: 'wx0000000000000000', secret: mobile.secret, code: 'x' });
      query.set('grant_type', 'authorization_code');
      expectWechatError(await request(`/sns/oauth2/access_token?${query}`), 40013, 'invalid appid');
    });

    it('gives the scope of the login: snsapi_base for an official account unless asked, snsapi_login for a website', async () => {
      const base = await oauthExchange(account, emulator.login(undefined, { appid: account.appid }).code);
      expect(base.body.scope).to.equal('snsapi_base');
      const asked = emulator.login(undefined, { appid: account.appid, scope: 'snsapi_userinfo' });
      expect((await oauthExchange(account, asked.code)).body.scope).to.equal('snsapi_userinfo');
      const site = await oauthExchange(website, emulator.login(undefined, { appid: website.appid }).code);
      expect(site.body.scope).to.equal('snsapi_login');
    });
  });

  describe('GET /sns/userinfo', () => {
    async function snsLogin(app: EmulatedApp, unionid = true): Promise<{ token: string; openid: string }> {
      const user = emulator.createUser({ unionid });
      const { code, openid } = emulator.login(user.openid, { appid: app.appid });
      const { body } = await oauthExchange(app, code);
      return { token: body.access_token as string, openid };
    }

    it('answers the profile of the access token’s person in that app, unionid included', async () => {
      const { token, openid } = await snsLogin(website);
      const answer = await userinfo(token, openid);
      expect(answer.status).to.equal(200);
      expect(answer.body).to.have.keys(
        'openid',
        'nickname',
        'sex',
        'province',
        'city',
        'country',
        'headimgurl',
        'privilege',
        'unionid',
      );
      expect(answer.body).to.include({ openid, nickname: '微信用户', sex: 0 });
      expect(answer.body.privilege).to.deep.equal([]);
    });

    it('leaves out the unionid of a person without one', async () => {
      const { token, openid } = await snsLogin(mobile, false);
      expect((await userinfo(token, openid)).body).not.to.have.property('unionid');
    });

    it('answers a snsapi_base token with 48001, another openid with 40003, an unknown token with 40001', async () => {
      const base = await snsLogin(account);
      expectWechatError(await userinfo(base.token, base.openid), 48001, 'api unauthorized');
      const site = await snsLogin(website);
      expectWechatError(await userinfo(site.token, base.openid), 40003, 'invalid openid');
      expectWechatError(
        await userinfo('no-such-token', site.openid),
        40001,
        'invalid credential, access_token is invalid or not latest',
      );
    });
  });

  describe("each app's access tokens", () => {
    it("redeems a phone code with its own mini-program's token only; another's answers 40029 and leaves it usable", async () => {
      const { openid } = emulator.createUser({ phoneNumber: '13900139000' });
      const code = emulator.phoneCode(openid, { appid: service.appid });
      expectWechatError(await phoneNumber(await accessToken(shop), code), 40029, 'invalid code');
      const answer = await phoneNumber(await accessToken(service), code);
      expect(answer.body.phone_info).to.deep.include({ purePhoneNumber: '13900139000' });
      expect((answer.body.phone_info as { watermark: { appid: string } }).watermark.appid).to.equal(
        service.appid,
      );
    });

    it("answers checksession with 40003 for the person's openid in another mini-program", async () => {
      const user = emulator.createUser();
      const key = emulator.sessionKeyOf(user.openid, { appid: service.appid });
      const check = (token: string, openid: string) =>
        request(
          `/wxa/checksession?${new URLSearchParams({ access_token: token, openid, signature: sessionKeySignature(key), sig_method: 'hmac_sha256' })}`,
        );
      expectWechatError(
        await check(await accessToken(shop), user.openids[service.appid]!),
        40003,
        'invalid openid',
      );
      expect((await check(await accessToken(service), user.openids[service.appid]!)).body).to.deep.equal({
        errcode: 0,
        errmsg: 'ok',
      });
    });

    it("answers the mini-program APIs with 48001 for an official account's token", async () => {
      const token = await accessToken(account);
      expectWechatError(await phoneNumber(token, 'x'), 48001, 'api unauthorized');
      const drawn = await postJson(`/wxa/getwxacodeunlimit?access_token=${encodeURIComponent(token)}`, {
        scene: 'abc',
      });
      expectWechatError(drawn, 48001, 'api unauthorized');
    });

    it('gives each app its own stable token, and invalidates one app’s tokens only when asked', async () => {
      const shopToken = await accessToken(shop);
      const serviceToken = await accessToken(service);
      expect(shopToken).not.to.equal(serviceToken);
      emulator.invalidateAccessTokens({ appid: shop.appid });
      expect((await phoneNumber(shopToken, 'x')).body.errcode).to.equal(40001);
      expect((await phoneNumber(serviceToken, 'x')).body.errcode).to.equal(40029);
      const invalidated = await postJson('/__emulator/access-token/invalidate', { appid: service.appid });
      expect(invalidated.status).to.equal(204);
      expect((await phoneNumber(serviceToken, 'x')).body.errcode).to.equal(40001);
    });
  });

  describe('faults per app', () => {
    it("makes one app's WeChat busy while another's answers", async () => {
      emulator.setFault({ api: 'jscode2session', mode: 'busy', appid: shop.appid, times: 2 });
      const serviceLogin = emulator.login(undefined, { appid: service.appid });
      expect((await jscode2session(service, serviceLogin.code)).body.openid).to.equal(serviceLogin.openid);
      expectWechatError(await jscode2session(shop, emulator.login().code), -1, 'system error');
      expectWechatError(await jscode2session(shop, emulator.login().code), -1, 'system error');
      emulator.assertNoPendingFaults();
    });

    it('knows the app of a request by its access token', async () => {
      const shopToken = await accessToken(shop);
      const serviceToken = await accessToken(service);
      await postJson('/__emulator/faults', {
        api: '*',
        mode: 'errcode',
        errcode: 45009,
        appid: service.appid,
      });
      expect((await phoneNumber(shopToken, 'x')).body.errcode).to.equal(40029);
      expectWechatError(await phoneNumber(serviceToken, 'x'), 45009, 'reach max api daily quota limit');
    });

    it('hits any app when armed without appid', async () => {
      emulator.setFault({ api: 'oauth2_access_token', mode: 'busy' });
      expect((await oauthExchange(website, 'x')).body.errcode).to.equal(-1);
      emulator.assertNoPendingFaults();
    });

    it('names the app of a fault never hit, and refuses an appid none of the apps has', () => {
      emulator.setFault({ api: 'token', mode: 'busy', appid: mobile.appid });
      expect(() => emulator.assertNoPendingFaults()).to.throw(new RegExp(`token for ${mobile.appid} busy`));
      expect(() => emulator.setFault({ api: 'token', mode: 'busy', appid: 'wx-none' })).to.throw(
        /appid must be/,
      );
    });
  });

  describe('calls per app', () => {
    it('counts the requests for each app, by the appid they name or their access token', async () => {
      await jscode2session(shop, 'x');
      await jscode2session(service, 'x');
      await jscode2session(service, 'x');
      await phoneNumber(await accessToken(service), 'x');
      await oauthExchange(mobile, 'x');
      expect(emulator.calls('jscode2session')).to.equal(3);
      expect(emulator.calls('jscode2session', shop.appid)).to.equal(1);
      expect(emulator.calls('jscode2session', service.appid)).to.equal(2);
      expect(emulator.calls(undefined, service.appid)).to.equal(4);
      expect(emulator.calls('oauth2_access_token', mobile.appid)).to.equal(1);
      expect(emulator.calls(undefined, website.appid)).to.equal(0);
      expect(() => emulator.calls(undefined, 'wx-none')).to.throw(/No emulated app/);
    });

    it('GET /__emulator/calls?appid= answers the counts of one app, the sns APIs included', async () => {
      await jscode2session(service, 'x');
      await oauthExchange(mobile, 'x');
      const answer = await request(`/__emulator/calls?appid=${service.appid}`);
      expect(answer.body).to.deep.equal({
        jscode2session: 1,
        stable_token: 0,
        token: 0,
        getuserphonenumber: 0,
        checksession: 0,
        getwxacodeunlimit: 0,
        oauth2_access_token: 0,
        userinfo: 0,
      });
      expect((await request('/__emulator/calls')).body.oauth2_access_token).to.equal(1);
    });
  });

  describe('control surface over HTTP', () => {
    it('GET /__emulator/apps lists appid, kind and name, never a secret', async () => {
      const answer = await request('/__emulator/apps');
      expect(answer.status).to.equal(200);
      expect(answer.body.apps).to.deep.equal(
        emulator.apps.map(({ appid, kind, name }) => ({ appid, kind, name })),
      );
      for (const app of emulator.apps) expect(answer.text).not.to.include(app.secret);
    });

    it('POST /__emulator/users answers every app’s openid', async () => {
      const answer = await postJson('/__emulator/users', { openid: 'o-carol', unionid: 'o-union-carol' });
      expect(answer.body).to.have.keys('openid', 'unionid', 'openids');
      expect((answer.body.openids as Record<string, string>)[shop.appid]).to.equal('o-carol');
    });

    it('POST /__emulator/login takes appid and scope', async () => {
      const user = emulator.createUser();
      const answer = await postJson('/__emulator/login', {
        openid: user.openid,
        appid: account.appid,
        scope: 'snsapi_userinfo',
      });
      expect(answer.body.openid).to.equal(user.openids[account.appid]);
      const exchanged = await oauthExchange(account, answer.body.code as string);
      expect(exchanged.body).to.include({ openid: user.openids[account.appid], scope: 'snsapi_userinfo' });
    });

    it("POST /__emulator/encrypt with appid: that app's watermark and openId, under its session_key", async () => {
      const user = emulator.createUser();
      const answer = await postJson('/__emulator/encrypt', {
        openid: user.openid,
        kind: 'userInfo',
        appid: service.appid,
      });
      const data = decryptOpenData(
        emulator.sessionKeyOf(user.openid, { appid: service.appid }),
        answer.body as { encryptedData: string; iv: string },
      );
      expect(data.openId).to.equal(user.openids[service.appid]);
      expect((data.watermark as { appid: string }).appid).to.equal(service.appid);
    });

    it('POST /__emulator/phone-code with appid gives a code for that mini-program', async () => {
      const { openid } = emulator.createUser();
      const answer = await postJson('/__emulator/phone-code', { openid, appid: service.appid });
      expect(
        (await phoneNumber(await accessToken(service), answer.body.code as string)).body.errcode,
      ).to.equal(0);
    });

    it('answers 404 to an unknown appid and 400 to what only mini-programs or official accounts have', async () => {
      const unknown = await postJson('/__emulator/login', { appid: 'wx-none' });
      expect(unknown.status).to.equal(404);
      expect(unknown.body.error).to.equal('not_found');
      const { openid } = emulator.createUser();
      for (const [path, body] of [
        ['/__emulator/phone-code', { openid, appid: mobile.appid }],
        ['/__emulator/encrypt', { openid, kind: 'phone', appid: website.appid }],
        ['/__emulator/login', { appid: mobile.appid, scope: 'snsapi_base' }],
        ['/__emulator/login', { appid: account.appid, scope: 'snsapi_login' }],
      ] as const) {
        const answer = await postJson(path, body);
        expect(answer.status, `${path} ${answer.text}`).to.equal(400);
        expect(answer.body.error).to.equal('invalid_request');
      }
    });
  });
});
