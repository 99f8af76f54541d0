import { expect } from 'chai';
import { AuthError, DEFAULT_STORAGE_KEY, NetworkError } from '../../src/client/index.js';
import { type LiveService, startLiveService } from './service.js';

const ACCESS_TTL_MS = 900_000;

/** A clock that stays where the service's was: the client never knows its token expired. */
function frozenAt(ms: number) {
  return { now: () => ms };
}

describe('Mini-program client: sessions against the real service', () => {
  let s: LiveService;
  beforeEach(async () => {
    s = await startLiveService();
  });
  afterEach(async () => {
    await s.close();
  });

  describe('cold start', () => {
    it('logs in once with wx.login(), keeps the tokens in wx storage and sends the access token', async () => {
      const { wx, auth } = s.phone();
      expect(auth.session()).to.equal(null);
      const me = await auth.request<{ openid: string }>({ url: '/auth/me' });
      expect(me.statusCode).to.equal(200);
      expect(wx.logins()).to.equal(1);
      expect(me.data.openid).to.equal(wx.openid);
      expect(auth.session()).to.deep.equal({ openid: wx.openid });
      const stored = wx.storage.get(DEFAULT_STORAGE_KEY) as Record<string, unknown>;
      expect(stored).to.include({ openid: wx.openid });
      expect(stored.accessToken).to.be.a('string');
      expect(wx.requests('GET /auth/me')[0]!.authorization).to.equal(`Bearer ${stored.accessToken}`);
    });

    it('answers login() with the openid and whether the user is new', async () => {
      const { auth, wx } = s.phone();
      const first = await auth.login();
      expect(first).to.deep.equal({ openid: wx.openid, isNewUser: true });
      const again = await auth.login();
      expect(again.isNewUser).to.equal(false);
      expect(wx.logins()).to.equal(2);
    });

    it('carries the unionid when WeChat gives one', async () => {
      const user = s.h.emulator.createUser({ unionid: true });
      const { auth } = s.phone({ openid: user.openid });
      expect(await auth.login()).to.include({ openid: user.openid, unionid: user.unionid });
      expect(auth.session()).to.deep.equal({ openid: user.openid, unionid: user.unionid });
    });

    it('shares one wx.login() among concurrent first requests', async () => {
      const { wx, auth } = s.phone();
      const answers = await Promise.all(Array.from({ length: 5 }, () => auth.request({ url: '/auth/me' })));
      expect(answers.map((a) => a.statusCode)).to.deep.equal([200, 200, 200, 200, 200]);
      expect(wx.logins()).to.equal(1);
      expect(wx.requests('POST /auth/login')).to.have.length(1);
    });

    it('reuses the stored session when the mini-program opens again, without wx.login()', async () => {
      const first = s.phone();
      await first.auth.ensureSession();
      const reopened = s.phone({ openid: first.wx.openid!, storage: first.wx.storage });
      await reopened.auth.ensureSession();
      const me = await reopened.auth.request({ url: '/auth/me' });
      expect(me.statusCode).to.equal(200);
      expect(reopened.wx.logins()).to.equal(0);
    });
  });

  describe('ensureSession()', () => {
    it('keeps a live session, asking only wx.checkSession()', async () => {
      const { wx, auth } = s.phone();
      await auth.login();
      const before = wx.calls.length;
      expect(await auth.ensureSession()).to.deep.equal({ openid: wx.openid });
      expect(wx.calls.slice(before)).to.deep.equal([{ api: 'checkSession', live: true }]);
    });

    it("logs in again when wx.checkSession() says WeChat's session expired, so the service holds the new session_key", async () => {
      const { wx, auth } = s.phone();
      await auth.login();
      s.h.emulator.login(wx.openid); // WeChat rotated the session_key behind the service's back
      wx.sessionLive = false;
      await auth.ensureSession();
      expect(wx.logins()).to.equal(2);
      const user = await s.h.store.getUser(wx.openid!);
      expect(user!.sessionKey).to.equal(s.h.emulator.sessionKeyOf(wx.openid!));
    });

    it('logs in when nothing is stored, without asking wx.checkSession()', async () => {
      const { wx, auth } = s.phone();
      await auth.ensureSession();
      expect(wx.calls.map((c) => c.api)).to.deep.equal(['login', 'request']);
    });

    it('logs in when the stored refresh token has expired', async () => {
      const { wx, auth } = s.phone();
      await auth.login();
      s.h.clock.advance(2592000_000);
      await auth.ensureSession();
      expect(wx.logins()).to.equal(2);
      expect(wx.requests('POST /auth/refresh')).to.have.length(0);
    });
  });

  describe('expiry', () => {
    it('refreshes an access token the service refuses as expired, and retries the request once', async () => {
      const { wx, auth } = s.phone({ clock: frozenAt(s.h.clock.now()) });
      await auth.login();
      s.h.clock.advance(ACCESS_TTL_MS + 1000);
      const me = await auth.request({ url: '/auth/me' });
      expect(me.statusCode).to.equal(200);
      expect(wx.requests().map((r) => `${r.method} ${new URL(r.url).pathname}`)).to.deep.equal([
        'POST /auth/login',
        'GET /auth/me',
        'POST /auth/refresh',
        'GET /auth/me',
      ]);
      expect(wx.logins()).to.equal(1);
    });

    it('refreshes shortly before the access token expires, without waiting for a 401', async () => {
      const { wx, auth } = s.phone();
      await auth.login();
      s.h.clock.advance(ACCESS_TTL_MS - 30_000);
      const me = await auth.request({ url: '/auth/me' });
      expect(me.statusCode).to.equal(200);
      expect(wx.requests('POST /auth/refresh')).to.have.length(1);
      expect(wx.requests('GET /auth/me')).to.have.length(1);
    });

    it('sends the same access token until it nears expiry', async () => {
      const { wx, auth } = s.phone();
      await auth.login();
      for (let i = 0; i < 3; i++) {
        s.h.clock.advance(60_000);
        await auth.request({ url: '/auth/me' });
      }
      expect(wx.requests('POST /auth/refresh')).to.have.length(0);
      expect(new Set(wx.requests('GET /auth/me').map((r) => r.authorization)).size).to.equal(1);
    });

    it('makes exactly one refresh for 20 concurrent requests whose token the service refuses', async () => {
      const { wx, auth } = s.phone({ clock: frozenAt(s.h.clock.now()) });
      await auth.login();
      s.h.clock.advance(ACCESS_TTL_MS + 1000);
      const answers = await Promise.all(Array.from({ length: 20 }, () => auth.request({ url: '/auth/me' })));
      expect(answers.every((a) => a.statusCode === 200)).to.equal(true);
      expect(wx.requests('POST /auth/refresh')).to.have.length(1);
      expect(wx.requests('GET /auth/me')).to.have.length(40);
      expect(wx.logins()).to.equal(1);
    });

    it('makes exactly one refresh for 20 concurrent requests when the token nears expiry', async () => {
      const { wx, auth } = s.phone();
      await auth.login();
      s.h.clock.advance(ACCESS_TTL_MS + 1000);
      const answers = await Promise.all(Array.from({ length: 20 }, () => auth.request({ url: '/auth/me' })));
      expect(answers.every((a) => a.statusCode === 200)).to.equal(true);
      expect(wx.requests('POST /auth/refresh')).to.have.length(1);
      expect(wx.requests('GET /auth/me')).to.have.length(20);
    });

    it('keeps working over many rotations (each refresh token used once)', async () => {
      const { wx, auth } = s.phone();
      await auth.login();
      for (let i = 0; i < 4; i++) {
        s.h.clock.advance(ACCESS_TTL_MS);
        expect((await auth.request({ url: '/auth/me' })).statusCode).to.equal(200);
      }
      expect(wx.requests('POST /auth/refresh')).to.have.length(4);
      expect(wx.logins()).to.equal(1);
    });
  });

  describe('a session the service ended', () => {
    it('logs in again exactly once when the family was revoked (logout of all sessions elsewhere)', async () => {
      const phone = s.phone();
      await phone.auth.login();
      const tablet = s.phone({ openid: phone.wx.openid! });
      await tablet.auth.login();
      await tablet.auth.logout({ all: true });
      s.h.clock.advance(ACCESS_TTL_MS + 1000);
      const me = await phone.auth.request({ url: '/auth/me' });
      expect(me.statusCode).to.equal(200);
      expect(phone.wx.requests('POST /auth/refresh')).to.have.length(1);
      expect(phone.wx.logins()).to.equal(2);
    });

    it('makes one refresh and one wx.login() for 20 concurrent requests after refresh-token reuse killed the family', async () => {
      const { wx, auth } = s.phone();
      await auth.login();
      const stolen = (wx.storage.get(DEFAULT_STORAGE_KEY) as { refreshToken: string }).refreshToken;
      await s.h.http.post('/auth/refresh').send({ refresh_token: stolen }).expect(200);
      s.h.clock.advance(11_000);
      await s.h.http.post('/auth/refresh').send({ refresh_token: stolen }).expect(400); // reuse: family dead
      s.h.clock.advance(ACCESS_TTL_MS);
      const answers = await Promise.all(Array.from({ length: 20 }, () => auth.request({ url: '/auth/me' })));
      expect(answers.every((a) => a.statusCode === 200)).to.equal(true);
      expect(wx.requests('POST /auth/refresh')).to.have.length(1);
      expect(wx.logins()).to.equal(2);
    });

    it('logs in again once when a route answers login_required (no session_key stored)', async () => {
      const { wx, auth } = s.phone();
      await auth.login();
      const { userKeys } = await import('../../src/store/index.js');
      await s.h.redis!.client.del(userKeys(s.h.redis!.prefix, wx.openid!).user);
      const answer = await auth.request<{ session_key_valid: boolean }>({ url: '/wechat/session' });
      expect(answer.statusCode).to.equal(200);
      expect(answer.data.session_key_valid).to.equal(true);
      expect(wx.logins()).to.equal(2);
      expect(wx.requests('GET /wechat/session')).to.have.length(2);
    });

    it('throws AuthError invalid_grant and keeps no session when the login code is refused', async () => {
      const { wx, auth } = s.phone();
      s.h.emulator.setFault({
        api: 'jscode2session',
        mode: 'errcode',
        errcode: 40029,
        errmsg: 'invalid code',
      });
      const error = await auth.login().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(AuthError);
      expect(error).to.include({ code: 'invalid_grant', status: 400, wechatErrcode: 40029 });
      expect(auth.session()).to.equal(null);
      expect(wx.logins()).to.equal(1);
    });
  });

  describe('logout', () => {
    it('ends the session at the service and forgets it; the next request logs in again', async () => {
      const { wx, auth } = s.phone();
      await auth.login();
      const { refreshToken } = wx.storage.get(DEFAULT_STORAGE_KEY) as { refreshToken: string };
      await auth.logout();
      expect(auth.session()).to.equal(null);
      expect(wx.storage.has(DEFAULT_STORAGE_KEY)).to.equal(false);
      const refused = await s.h.http.post('/auth/refresh').send({ refresh_token: refreshToken }).expect(400);
      expect(refused.body.error).to.equal('invalid_grant');
      expect((await auth.request({ url: '/auth/me' })).statusCode).to.equal(200);
      expect(wx.logins()).to.equal(2);
    });

    it("with all: true, ends the user's sessions on other phones too", async () => {
      const phone = s.phone();
      await phone.auth.login();
      const tablet = s.phone({ openid: phone.wx.openid! });
      await tablet.auth.login();
      const { refreshToken } = tablet.wx.storage.get(DEFAULT_STORAGE_KEY) as { refreshToken: string };
      await phone.auth.logout({ all: true });
      expect(phone.wx.requests('POST /auth/logout')).to.have.length(1);
      await s.h.http.post('/auth/refresh').send({ refresh_token: refreshToken }).expect(400);
    });

    it('with an expired access token, refreshes first and ends the new session', async () => {
      const { wx, auth } = s.phone({ clock: frozenAt(s.h.clock.now()) });
      const kept: string[] = [];
      const save = wx.setStorageSync;
      wx.setStorageSync = ((key: string, value: { refreshToken: string }) => {
        kept.push(value.refreshToken);
        save(key, value);
      }) as typeof save;
      await auth.login();
      s.h.clock.advance(ACCESS_TTL_MS + 1000);
      await auth.logout();
      expect(wx.requests('POST /auth/refresh')).to.have.length(1);
      expect(wx.requests('POST /auth/logout')).to.have.length(2);
      expect(kept).to.have.length(2);
      const successor = await s.h.http.post('/auth/refresh').send({ refresh_token: kept[1] }).expect(400);
      expect(successor.body.error).to.equal('invalid_grant');
      expect(wx.logins()).to.equal(1);
    });

    it('does nothing but forget the session when the service already ended it, and never logs in to log out', async () => {
      const { wx, auth } = s.phone();
      await auth.login();
      await s.h.http
        .post('/auth/logout')
        .set(
          'Authorization',
          `Bearer ${(wx.storage.get(DEFAULT_STORAGE_KEY) as { accessToken: string }).accessToken}`,
        )
        .send({ all: true })
        .expect(204);
      s.h.clock.advance(ACCESS_TTL_MS + 1000);
      await auth.logout();
      expect(wx.requests('POST /auth/logout')).to.have.length(0);
      expect(wx.logins()).to.equal(1);
      expect(auth.session()).to.equal(null);
    });

    it('forgets the session even when the service cannot be told, and says so with NetworkError', async () => {
      const { wx, auth } = s.phone();
      await auth.login();
      wx.offline = true;
      await auth.logout().then(
        () => expect.fail('resolved'),
        (e: unknown) => expect(e).to.be.instanceOf(NetworkError),
      );
      expect(auth.session()).to.equal(null);
      expect(wx.storage.has(DEFAULT_STORAGE_KEY)).to.equal(false);
    });

    it('sends nothing when logged out', async () => {
      const { wx, auth } = s.phone();
      await auth.logout();
      expect(wx.calls).to.deep.equal([]);
    });
  });

  describe('network failures', () => {
    it('surface as NetworkError after one attempt, keeping the stored session', async () => {
      const { wx, auth } = s.phone();
      await auth.login();
      const stored = wx.storage.get(DEFAULT_STORAGE_KEY);
      wx.offline = true;
      const error = await auth.request({ url: '/auth/me' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(NetworkError);
      expect(error).to.include({ code: 'network_error' });
      expect((error as NetworkError).errMsg).to.match(/^request:fail/);
      expect(wx.requests('GET /auth/me')).to.have.length(1);
      expect(wx.storage.get(DEFAULT_STORAGE_KEY)).to.deep.equal(stored);
      wx.offline = false;
      expect((await auth.request({ url: '/auth/me' })).statusCode).to.equal(200);
    });

    it('during a refresh surface as NetworkError; the refresh token is kept and works once the network is back', async () => {
      const { wx, auth } = s.phone();
      await auth.login();
      s.h.clock.advance(ACCESS_TTL_MS);
      wx.offline = (_method, url) => url.endsWith('/auth/refresh');
      await auth.request({ url: '/auth/me' }).then(
        () => expect.fail('resolved'),
        (e: unknown) => expect(e).to.be.instanceOf(NetworkError),
      );
      wx.offline = false;
      expect((await auth.request({ url: '/auth/me' })).statusCode).to.equal(200);
      expect(wx.logins()).to.equal(1);
    });

    it('surface as NetworkError when the service is down, with no retry loop', async () => {
      const { wx, auth } = s.phone({ baseUrl: 'http://127.0.0.1:1' });
      const error = await auth.request({ url: '/auth/me' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(NetworkError);
      expect(wx.requests()).to.have.length(1);
      expect(wx.logins()).to.equal(1);
    });

    it('answers other statuses as they are, like wx.request', async () => {
      const { auth } = s.phone();
      const answer = await auth.request<{ error: string }>({ url: '/no/such/route' });
      expect(answer.statusCode).to.equal(404);
    });
  });
});
