import { expect } from 'chai';
import { DEFAULT_STORAGE_KEY } from '../../src/client/index.js';
import { type LiveService, startLiveService } from './service.js';

describe('Mini-program client: devices, sessions and account deletion against the real service', () => {
  let s: LiveService;
  beforeEach(async () => {
    s = await startLiveService();
  });
  afterEach(async () => {
    await s.close();
  });

  it("sends the phone's model, system and WeChat version as the login's device, and lists this session as current", async () => {
    const { auth } = s.phone();
    await auth.login();
    const sessions = await auth.sessions();
    expect(sessions).to.have.length(1);
    expect(sessions[0]).to.include({ device: 'iPhone 15 Pro; iOS 17.4.1; WeChat 8.0.47', current: true });
    expect(sessions[0]!.createdAt).to.equal(Math.floor(s.h.clock.now() / 1000) * 1000);
    expect(sessions[0]!.expiresAt).to.be.above(sessions[0]!.createdAt!);
  });

  it('names an Android phone by brand and model, from getSystemInfoSync on an old base library', async () => {
    const { wx, auth } = s.phone();
    wx.device = { brand: 'Xiaomi', model: '2211133C', system: 'Android 14', version: '8.0.40', legacy: true };
    await auth.login();
    expect((await auth.sessions())[0]!.device).to.equal('Xiaomi 2211133C; Android 14; WeChat 8.0.40');
  });

  it('sends the device it is given, or none when told not to or when the phone says nothing', async () => {
    const given = s.phone({ device: 'Front desk tablet' });
    await given.auth.login();
    expect((await given.auth.sessions())[0]!.device).to.equal('Front desk tablet');
    const none = s.phone({ device: false });
    await none.auth.login();
    expect((await none.auth.sessions())[0]!.device).to.equal(null);
    const silent = s.phone();
    silent.wx.device = undefined;
    await silent.auth.login();
    expect((await silent.auth.sessions())[0]!.device).to.equal(null);
  });

  it("sends the mini-program's appid from wx.getAccountInfoSync() with the login, unconfigured", async () => {
    const { wx, auth } = s.phone();
    expect((await auth.login()).isNewUser).to.equal(true);
    const [sent] = wx.requests('POST /auth/login');
    expect(sent!.data).to.deep.include({ appid: s.h.emulator.appid });
    await auth.logout();
    // Asked of wx once: every later login of this client sends the same.
    wx.appid = 'wxChangedMeanwhile';
    await auth.login();
    expect(wx.requests('POST /auth/login')[1]!.data).to.deep.include({ appid: s.h.emulator.appid });
  });

  it('logs in without an appid when the base library has no wx.getAccountInfoSync, or it throws', async () => {
    const older = s.phone();
    delete older.wx.getAccountInfoSync;
    expect((await older.auth.login()).isNewUser).to.equal(true);
    expect(older.wx.requests('POST /auth/login')[0]!.data).not.to.have.property('appid');
    const failing = s.phone();
    failing.wx.appid = undefined;
    expect((await failing.auth.login()).isNewUser).to.equal(true);
    expect(failing.wx.requests('POST /auth/login')[0]!.data).not.to.have.property('appid');
  });

  it('sends no appid that is not of the shape an appid has', async () => {
    for (const appid of ['', 'wx app', 'a'.repeat(65), 'wx\u0000x']) {
      const { wx, auth } = s.phone();
      wx.appid = appid;
      await auth.login();
      expect(wx.requests('POST /auth/login')[0]!.data, JSON.stringify(appid)).not.to.have.property('appid');
    }
  });

  it('logs in all the same when the service refuses the device, with the same code and without it', async () => {
    const { wx, auth } = s.phone();
    wx.device = { brand: 'Odd', model: 'Model\uE000X', system: 'OS', version: '8.0.1' };
    expect((await auth.login()).isNewUser).to.equal(true);
    expect(wx.logins()).to.equal(1);
    expect(wx.requests('POST /auth/login')).to.have.length(2);
    expect(wx.requests('POST /auth/login')[1]!.data, 'the appid is kept').to.deep.equal({
      code: (wx.requests('POST /auth/login')[0]!.data as { code: string }).code,
      appid: s.h.emulator.appid,
    });
    expect((await auth.sessions())[0]!.device).to.equal(null);
  });

  it("ends another phone's session at once: that phone's next request logs in again by itself", async () => {
    const first = s.phone();
    await first.auth.login();
    // Newest first: the second login a second later, so the order does not rest on a tie.
    s.h.clock.advance(1000);
    const second = s.phone({ openid: first.wx.openid!, device: 'Old phone' });
    await second.auth.login();
    const listed = await first.auth.sessions();
    expect(listed.map((entry) => [entry.device, entry.current])).to.deep.equal([
      ['Old phone', false],
      ['iPhone 15 Pro; iOS 17.4.1; WeChat 8.0.47', true],
    ]);
    await first.auth.endSession(listed[0]!.id);
    expect(first.auth.session()).to.deep.equal({ openid: first.wx.openid });

    const answer = await second.auth.request({ url: '/auth/me' });
    expect(answer.statusCode).to.equal(200);
    expect(second.wx.requests('POST /auth/refresh')).to.have.length(1);
    expect(second.wx.logins()).to.equal(2);
  });

  it('forgets the session here when it ends its own', async () => {
    const { auth } = s.phone();
    await auth.login();
    const [mine] = await auth.sessions();
    await auth.endSession(mine!.id);
    expect(auth.session()).to.equal(null);
  });

  it('deletes the account: the session forgotten here, the next login a new user', async () => {
    const { wx, auth } = s.phone();
    await auth.login();
    await auth.deleteAccount();
    expect(auth.session()).to.equal(null);
    expect(wx.storage.has(DEFAULT_STORAGE_KEY)).to.equal(false);
    expect(wx.requests('DELETE /auth/account')).to.have.length(1);
    expect((await auth.login()).isNewUser).to.equal(true);
  });

  it('keeps the session when the deletion could not reach the service', async () => {
    const { wx, auth } = s.phone();
    await auth.login();
    wx.offline = (method) => method === 'DELETE';
    let error: unknown;
    await auth.deleteAccount().catch((caught: unknown) => {
      error = caught;
    });
    expect((error as { code?: string }).code).to.equal('network_error');
    expect(auth.session()).to.deep.equal({ openid: wx.openid });
  });

  it('lists no session and makes no login when logged out', async () => {
    const { wx, auth } = s.phone();
    expect(await auth.sessions()).to.deep.equal([]);
    await auth.endSession('AAAAAAAAAAAAAAAA');
    expect(wx.logins()).to.equal(0);
    expect(wx.requests()).to.have.length(0);
  });
});
