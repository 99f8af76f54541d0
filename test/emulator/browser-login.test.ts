import { expect } from 'chai';
import {
  type AuthorizeOptions,
  createEmulator,
  type EmulatedApp,
  type Emulator,
  zeroConfigApps,
} from '../../src/emulator/index.js';
import { readQrCode } from '../helpers/qr.js';

const OPENID = /^o[A-Za-z0-9_-]{27}$/;
const CALLBACK = 'https://service.example/wechat/callback?from=test';

interface Page {
  status: number;
  contentType: string | null;
  html: string;
}

describe('WeChat emulator: the browser login pages (connect/oauth2/authorize, connect/qrconnect)', () => {
  let emulator: Emulator;
  let mobile: EmulatedApp;
  let account: EmulatedApp;
  let website: EmulatedApp;

  beforeEach(async () => {
    emulator = createEmulator({ apps: zeroConfigApps() });
    [, , mobile, account, website] = emulator.apps as [
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

  /** The query of a login page as wxauth's OAuth server sends it. */
  function loginQuery(
    app: EmulatedApp,
    scope: string,
    state = 'st-1',
    redirectUri = CALLBACK,
  ): URLSearchParams {
    return new URLSearchParams({
      appid: app.appid,
      redirect_uri: redirectUri,
      response_type: 'code',
      scope,
      state,
    });
  }

  async function getPage(path: string, query: URLSearchParams): Promise<Page> {
    // The fragment stays in the browser, as #wechat_redirect does.
    const res = await fetch(`${emulator.url}${path}?${query}#wechat_redirect`, { redirect: 'manual' });
    return { status: res.status, contentType: res.headers.get('content-type'), html: await res.text() };
  }

  /** The page's form posted (redirects not followed): the 302's Location, or the answer's status. */
  async function submit(
    path: string,
    form: URLSearchParams,
  ): Promise<{ status: number; location: string | null; html: string }> {
    const res = await fetch(`${emulator.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
      redirect: 'manual',
    });
    return { status: res.status, location: res.headers.get('location'), html: await res.text() };
  }

  function formOf(query: URLSearchParams, fields: Record<string, string>): URLSearchParams {
    const form = new URLSearchParams(query);
    for (const [name, value] of Object.entries(fields)) form.set(name, value);
    return form;
  }

  async function exchange(app: EmulatedApp, code: string | undefined, secret = app.secret) {
    const query = new URLSearchParams({ appid: app.appid, secret, grant_type: 'authorization_code' });
    if (code !== undefined) query.set('code', code);
    const res = await fetch(`${emulator.url}/sns/oauth2/access_token?${query}`);
    return JSON.parse(await res.text()) as Record<string, unknown>;
  }

  async function userinfo(token: string, openid: string) {
    const res = await fetch(
      `${emulator.url}/sns/userinfo?${new URLSearchParams({ access_token: token, openid })}`,
    );
    return JSON.parse(await res.text()) as Record<string, unknown>;
  }

  /** The redirect target split: what the service's callback receives. */
  function landing(location: string | null) {
    expect(location).to.be.a('string');
    const url = new URL(location!);
    return { base: `${url.origin}${url.pathname}`, query: Object.fromEntries(url.searchParams) };
  }

  describe('GET /connect/oauth2/authorize (official account, inside WeChat)', () => {
    it('shows the consent for snsapi_userinfo: the app name, the people by their openid in that app, a new person, the snapshot box, 允许 and 拒绝', async () => {
      const user = emulator.createUser({ unionid: true });
      const page = await getPage('/connect/oauth2/authorize', loginQuery(account, 'snsapi_userinfo'));
      expect(page.status).to.equal(200);
      expect(page.contentType).to.equal('text/html; charset=utf-8');
      expect(page.html).to.contain('<h1 id="app-name">Official account</h1>');
      expect(page.html).to.contain(`value="${user.openids[account.appid]}" checked`);
      expect(page.html).not.to.contain(user.openid); // the mini-program's openid is not this app's
      expect(page.html).to.contain('value="new"');
      expect(page.html).to.contain('name="snapshot" value="1"');
      expect(page.html).to.contain('允许 Allow');
      expect(page.html).to.contain('拒绝 Refuse');
      expect(page.html).not.to.contain('<script');
    });

    it('asks only "who is this phone?" for snsapi_base, with nothing to refuse, as WeChat redirects silently', async () => {
      const page = await getPage('/connect/oauth2/authorize', loginQuery(account, 'snsapi_base'));
      expect(page.html).to.contain('<h1>who is this phone?</h1>');
      expect(page.html).to.contain('value="new" checked');
      expect(page.html).not.to.contain('value="refuse"');
    });

    it('allow: 302 to redirect_uri with code and state added to its query; the code exchanges for that person, scope snsapi_userinfo, and opens sns/userinfo', async () => {
      const user = emulator.createUser({ unionid: true });
      const query = loginQuery(account, 'snsapi_userinfo', 'a b&c');
      const answer = await submit(
        '/connect/oauth2/authorize',
        formOf(query, { person: user.openids[account.appid]!, decision: 'allow' }),
      );
      expect(answer.status).to.equal(302);
      const { base, query: received } = landing(answer.location);
      expect(base).to.equal('https://service.example/wechat/callback');
      expect(received).to.have.keys('from', 'code', 'state');
      expect(received).to.include({ from: 'test', state: 'a b&c' });
      const token = await exchange(account, received.code);
      expect(token).to.include({
        openid: user.openids[account.appid],
        scope: 'snsapi_userinfo',
        unionid: user.unionid,
      });
      expect(token).not.to.have.property('is_snapshotuser');
      const profile = await userinfo(token.access_token as string, token.openid as string);
      expect(profile).to.include({ openid: user.openids[account.appid], unionid: user.unionid });
    });

    it('allow for snsapi_base: the code grants snsapi_base (sns/userinfo then 48001)', async () => {
      const user = emulator.createUser();
      const answer = await submit(
        '/connect/oauth2/authorize',
        formOf(loginQuery(account, 'snsapi_base'), { person: user.openid, decision: 'allow' }),
      );
      const token = await exchange(account, landing(answer.location).query.code);
      expect(token).to.include({ openid: user.openids[account.appid], scope: 'snsapi_base' });
      expect((await userinfo(token.access_token as string, token.openid as string)).errcode).to.equal(48001);
    });

    it('refuse: 302 to redirect_uri with state only, no code', async () => {
      const answer = await submit(
        '/connect/oauth2/authorize',
        formOf(loginQuery(account, 'snsapi_userinfo', 'xyz'), { person: 'new', decision: 'refuse' }),
      );
      expect(answer.status).to.equal(302);
      expect(landing(answer.location).query).to.deep.equal({ from: 'test', state: 'xyz' });
    });

    it('"a new person" creates one, whom the next page offers', async () => {
      const answer = await submit(
        '/connect/oauth2/authorize',
        formOf(loginQuery(account, 'snsapi_base'), { person: 'new', decision: 'allow' }),
      );
      const token = await exchange(account, landing(answer.location).query.code);
      expect(token.openid).to.match(OPENID);
      const page = await getPage('/connect/oauth2/authorize', loginQuery(account, 'snsapi_base'));
      expect(page.html).to.contain(`value="${token.openid}" checked`);
    });

    it('keeps the state WeChat got, even when empty or absent (state= all the same)', async () => {
      const query = loginQuery(account, 'snsapi_base');
      query.delete('state');
      const answer = await submit(
        '/connect/oauth2/authorize',
        formOf(query, { person: 'new', decision: 'allow' }),
      );
      expect(answer.location).to.match(/&state=$/);
    });

    it('escapes what it echoes: a state and an app name holding HTML stay text', async () => {
      await emulator.close();
      emulator = createEmulator({ apps: [{ kind: 'official_account', name: '<b>Shop</b> & "Co"' }] });
      await emulator.listen(0);
      const [only] = emulator.apps as [EmulatedApp];
      const page = await getPage(
        '/connect/oauth2/authorize',
        loginQuery(only, 'snsapi_userinfo', '"><script>x()</script>'),
      );
      expect(page.html).to.contain('&lt;b&gt;Shop&lt;/b&gt; &amp; &quot;Co&quot;');
      expect(page.html).to.contain('value="&quot;&gt;&lt;script&gt;x()&lt;/script&gt;"');
      expect(page.html).not.to.contain('<script>');
    });

    it("shows WeChat's error page, never a redirect, for what it refuses (10012, 10016, 10011, 10010, 10005, 10003, appid参数错误)", async () => {
      const cases: Array<[Record<string, string | null>, string]> = [
        [{ appid: null }, '10012 appid不能为空'],
        [{ appid: 'wx-no-such-app' }, 'appid参数错误'],
        [{ appid: website.appid }, '10016 不支持微信开放平台的Appid，请使用公众号Appid'],
        [{ appid: mobile.appid }, '10016 不支持微信开放平台的Appid，请使用公众号Appid'],
        [{ redirect_uri: null }, '10011 redirect_uri不能为空'],
        [{ response_type: 'token' }, 'response_type参数错误'],
        [{ scope: null }, '10010 scope不能为空'],
        [{ scope: 'snsapi_login' }, '10005 此公众号并没有这些scope的权限'],
        [{ redirect_uri: 'javascript:alert(1)' }, '10003 redirect_uri域名与后台配置不一致'],
        [{ redirect_uri: '/relative/callback' }, '10003 redirect_uri域名与后台配置不一致'],
      ];
      for (const [changes, text] of cases) {
        const query = loginQuery(account, 'snsapi_userinfo');
        for (const [name, value] of Object.entries(changes)) {
          if (value === null) query.delete(name);
          else query.set(name, value);
        }
        const page = await getPage('/connect/oauth2/authorize', query);
        expect(page.status, text).to.equal(200);
        expect(page.html, text).to.contain(`<p id="error">${text}</p>`);
        // The form's POST is checked again: a tampered hidden field meets the same page.
        const posted = await submit(
          '/connect/oauth2/authorize',
          formOf(query, { person: 'new', decision: 'allow' }),
        );
        expect(posted.status, text).to.equal(200);
        expect(posted.location, text).to.equal(null);
        expect(posted.html, text).to.contain(text);
      }
    });

    it('answers a refusal of snsapi_base, or of a snapshot page, with 400 and no redirect: WeChat shows no consent there', async () => {
      const base = await submit(
        '/connect/oauth2/authorize',
        formOf(loginQuery(account, 'snsapi_base'), { person: 'new', decision: 'refuse' }),
      );
      expect(base.status).to.equal(400);
      expect(base.location).to.equal(null);
      const snapshot = await submit(
        '/connect/oauth2/authorize',
        formOf(loginQuery(account, 'snsapi_userinfo'), { person: 'new', decision: 'refuse', snapshot: '1' }),
      );
      expect(snapshot.status).to.equal(400);
    });

    it('is no server API: neither counted in calls() nor failed by faults', async () => {
      emulator.setFault({ api: '*', mode: 'http500' });
      const page = await getPage('/connect/oauth2/authorize', loginQuery(account, 'snsapi_base'));
      expect(page.status).to.equal(200);
      expect(emulator.calls()).to.equal(0);
      emulator.clearFaults();
    });
  });

  describe('the Moments (朋友圈) snapshot page', () => {
    it('gives a virtual account: is_snapshotuser 1, scope snsapi_base, an openid of no person, a virtual unionid; sns/userinfo answers 48001', async () => {
      const user = emulator.createUser({ unionid: true });
      const answer = await submit(
        '/connect/oauth2/authorize',
        formOf(loginQuery(account, 'snsapi_userinfo'), {
          person: user.openids[account.appid]!,
          decision: 'allow',
          snapshot: '1',
        }),
      );
      const token = await exchange(account, landing(answer.location).query.code);
      expect(token).to.include({ is_snapshotuser: 1, scope: 'snsapi_base' });
      expect(token.openid).to.match(OPENID);
      expect(Object.values(user.openids)).not.to.include(token.openid);
      expect(token.unionid).to.match(OPENID);
      expect(token.unionid).not.to.equal(user.unionid);
      const profile = await userinfo(token.access_token as string, token.openid as string);
      expect(profile.errcode).to.equal(48001);
      // No person came of it: the virtual openid logs nobody in elsewhere.
      expect(() => emulator.sessionKeyOf(token.openid as string)).to.throw(/No emulated user/);
    });

    it('is a new virtual account on every visit, and none for a person without unionid', async () => {
      const user = emulator.createUser();
      const openids = new Set<unknown>();
      for (let i = 0; i < 2; i += 1) {
        const { location } = emulator.authorize({
          appid: account.appid,
          redirectUri: CALLBACK,
          openid: user.openid,
          decision: 'allow',
          snapshot: true,
        });
        const token = await exchange(account, landing(location).query.code);
        expect(token).not.to.have.property('unionid');
        openids.add(token.openid);
      }
      expect(openids.size).to.equal(2);
    });
  });

  describe('GET /connect/qrconnect (website)', () => {
    it("shows a real QR code (a camera reads the page's URL), a scan button per person, one for a new person, and Refuse", async () => {
      const user = emulator.createUser();
      const query = loginQuery(website, 'snsapi_login');
      const page = await getPage('/connect/qrconnect', query);
      expect(page.status).to.equal(200);
      const png = /<img id="qrcode"[^>]* src="data:image\/png;base64,([A-Za-z0-9+/=]+)"/.exec(page.html);
      expect(png, 'the QR picture').not.to.equal(null);
      expect(readQrCode(Buffer.from(png![1]!, 'base64'))).to.equal(
        `${emulator.url}/connect/qrconnect?${query}`,
      );
      expect(page.html).to.contain(`Scan with the emulator's phone as ${user.openids[website.appid]}`);
      expect(page.html).to.contain("Scan with the emulator's phone as a new person");
      expect(page.html).to.contain('Refuse');
      expect(page.html).not.to.contain('snapshot');
    });

    it("scan and confirm: 302 to redirect_uri?code&state; the code exchanges for scope snsapi_login and the person's openid in the website", async () => {
      const user = emulator.createUser({ unionid: true });
      const answer = await submit(
        '/connect/qrconnect',
        formOf(loginQuery(website, 'snsapi_login', 'web-1'), { person: user.openid, decision: 'allow' }),
      );
      expect(answer.status).to.equal(302);
      const { query } = landing(answer.location);
      expect(query.state).to.equal('web-1');
      const token = await exchange(website, query.code);
      expect(token).to.include({
        openid: user.openids[website.appid],
        scope: 'snsapi_login',
        unionid: user.unionid,
      });
    });

    it('refuse: 302 to redirect_uri with state only', async () => {
      const answer = await submit(
        '/connect/qrconnect',
        formOf(loginQuery(website, 'snsapi_login', 'web-2'), { decision: 'refuse' }),
      );
      expect(answer.status).to.equal(302);
      expect(landing(answer.location).query).to.deep.equal({ from: 'test', state: 'web-2' });
    });

    it("shows the website login's error texts: an official account's appid or another scope, an unknown appid, a bad redirect_uri", async () => {
      const cases: Array<[URLSearchParams, string]> = [
        [loginQuery(account, 'snsapi_login'), 'Scope 参数错误或没有 Scope 权限'],
        [loginQuery(website, 'snsapi_userinfo'), 'Scope 参数错误或没有 Scope 权限'],
        [
          new URLSearchParams({
            appid: 'wx-nope',
            redirect_uri: CALLBACK,
            response_type: 'code',
            scope: 'snsapi_login',
          }),
          'AppID 参数错误',
        ],
        [loginQuery(website, 'snsapi_login', 's', 'ftp://service.example/cb'), 'redirect_uri 参数错误'],
      ];
      for (const [query, text] of cases) {
        const page = await getPage('/connect/qrconnect', query);
        expect(page.html, text).to.contain(`<p id="error">${text}</p>`);
      }
    });
  });

  describe('authorize() and POST /__emulator/authorize (no browser)', () => {
    it('gives the Location the page would redirect to, for each decision', async () => {
      const user = emulator.createUser();
      const allowed = emulator.authorize({
        appid: account.appid,
        redirectUri: CALLBACK,
        state: 's1',
        scope: 'snsapi_userinfo',
        openid: user.openid,
        decision: 'allow',
      });
      const code = landing(allowed.location).query.code;
      expect(await exchange(account, code)).to.include({
        openid: user.openids[account.appid],
        scope: 'snsapi_userinfo',
      });
      const refused = emulator.authorize({
        appid: website.appid,
        redirectUri: CALLBACK,
        state: 's2',
        decision: 'refuse',
      });
      expect(refused.location).to.equal(`${CALLBACK}&state=s2`);
      const site = emulator.authorize({ appid: website.appid, redirectUri: CALLBACK, decision: 'allow' });
      expect((await exchange(website, landing(site.location).query.code)).scope).to.equal('snsapi_login');
    });

    it("refuses what the page would: WeChat's texts, a refusal where there is no consent, a snapshot on a website", () => {
      const base: AuthorizeOptions = { appid: account.appid, redirectUri: CALLBACK, decision: 'allow' };
      expect(() => emulator.authorize({ ...base, redirectUri: 'not a url' })).to.throw(
        /10003 redirect_uri域名与后台配置不一致/,
      );
      expect(() => emulator.authorize({ ...base, appid: mobile.appid })).to.throw(/10016/);
      expect(() => emulator.authorize({ ...base, scope: 'snsapi_login' })).to.throw(/10005/);
      expect(() => emulator.authorize({ ...base, decision: 'refuse' })).to.throw(/snsapi_base is silent/);
      expect(() => emulator.authorize({ ...base, appid: website.appid, snapshot: true })).to.throw(
        /snapshot/,
      );
      expect(() => emulator.authorize({ ...base, decision: 'maybe' as 'allow' })).to.throw(/decision/);
      expect(() => emulator.authorize({ ...base, extra: 1 } as AuthorizeOptions)).to.throw(/unknown field/);
    });

    it('is served as POST /__emulator/authorize: {location}, or a 400 with the reason', async () => {
      const post = (body: unknown) =>
        fetch(`${emulator.url}/__emulator/authorize`, { method: 'POST', body: JSON.stringify(body) });
      const ok = await post({
        appid: account.appid,
        redirectUri: CALLBACK,
        state: 'c',
        decision: 'allow',
        snapshot: true,
      });
      expect(ok.status).to.equal(200);
      const { location } = (await ok.json()) as { location: string };
      expect(await exchange(account, landing(location).query.code)).to.include({ is_snapshotuser: 1 });
      const bad = await post({ appid: account.appid, redirectUri: 'mailto:x@y', decision: 'allow' });
      expect(bad.status).to.equal(400);
      expect(await bad.json()).to.deep.equal({
        error: 'invalid_request',
        error_description: '10003 redirect_uri域名与后台配置不一致',
      });
    });
  });

  describe("the codes' exchange at sns/oauth2/access_token", () => {
    it("answers 40163 for a used code, 40029 for an unknown or another app's, 41008 without one, 40013 for an unknown appid, 40125 for a wrong secret", async () => {
      const { location } = emulator.authorize({
        appid: account.appid,
        redirectUri: CALLBACK,
        decision: 'allow',
      });
      const code = landing(location).query.code!;
      expect((await exchange(website, code)).errcode).to.equal(40029);
      expect((await exchange(account, code, website.secret)).errcode).to.equal(40125);
      expect(await exchange(account, code)).to.have.property('access_token');
      expect((await exchange(account, code)).errcode).to.equal(40163);
      expect((await exchange(account, 'no-such-code')).errcode).to.equal(40029);
      expect((await exchange(account, undefined)).errcode).to.equal(41008);
      expect((await exchange({ ...account, appid: 'wx-unknown' }, code)).errcode).to.equal(40013);
    });
  });
});
