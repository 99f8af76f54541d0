import { expect } from 'chai';
import { AuthError, DecryptFailedError, UserDeniedError } from '../../src/client/index.js';
import { type LiveService, startLiveService } from './service.js';
import type { WxShim } from './wx-shim.js';

const ACCESS_TTL_MS = 900_000;

/** What the page's code did to wx, in order: `login`, `POST /auth/refresh`… */
function steps(wx: WxShim): string[] {
  return wx.calls.map((call) =>
    call.api === 'request' ? `${call.method} ${new URL(call.url).pathname}` : call.api,
  );
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (error: unknown) => error,
  );
}

describe('Mini-program client: buttons and open data against the real service', () => {
  let s: LiveService;
  beforeEach(async () => {
    s = await startLiveService();
  });
  afterEach(async () => {
    await s.close();
  });

  /** A phone that logged in as a user with a known phone number. */
  async function loggedInPhone() {
    const user = s.h.emulator.createUser({ phoneNumber: '13800138000' });
    const phone = s.phone({ openid: user.openid });
    await phone.auth.ensureSession();
    return { user, ...phone };
  }

  describe('getPhoneNumber(detail)', () => {
    it("sends the button's code and answers the phone number", async () => {
      const { user, auth } = await loggedInPhone();
      const legacy = s.h.emulator.encrypt(user.openid, 'phone');
      const detail = { errMsg: 'getPhoneNumber:ok', code: s.h.emulator.phoneCode(user.openid), ...legacy };
      expect(await auth.getPhoneNumber(detail)).to.deep.equal({
        phoneNumber: '13800138000',
        purePhoneNumber: '13800138000',
        countryCode: '86',
      });
      expect(s.h.emulator.calls('getuserphonenumber')).to.equal(1);
    });

    it('decrypts the legacy encryptedData and iv when there is no code', async () => {
      const { user, auth } = await loggedInPhone();
      const detail = { errMsg: 'getPhoneNumber:ok', ...s.h.emulator.encrypt(user.openid, 'phone') };
      expect(await auth.getPhoneNumber(detail)).to.include({ purePhoneNumber: '13800138000' });
      expect(s.h.emulator.calls('getuserphonenumber')).to.equal(0);
    });

    it('logs in first when there is no session yet (a code needs no session_key)', async () => {
      const user = s.h.emulator.createUser();
      const { wx, auth } = s.phone({ openid: user.openid });
      const phone = await auth.getPhoneNumber({ code: s.h.emulator.phoneCode(user.openid) });
      expect(phone.purePhoneNumber).to.equal(user.phoneNumber);
      expect(steps(wx)).to.deep.equal(['login', 'POST /auth/login', 'POST /wechat/phone-number']);
    });

    it('rejects a declined button with UserDeniedError and sends nothing', async () => {
      const { wx, auth } = await loggedInPhone();
      const before = wx.calls.length;
      const error = await rejection(auth.getPhoneNumber({ errMsg: 'getPhoneNumber:fail user deny' }));
      expect(error).to.be.instanceOf(UserDeniedError);
      expect(error).to.include({ code: 'user_denied', errMsg: 'getPhoneNumber:fail user deny' });
      expect(wx.calls.length).to.equal(before);
    });

    it('rejects a detail with neither code nor encrypted data as invalid_request, sending nothing', async () => {
      const { wx, auth } = await loggedInPhone();
      const before = wx.calls.length;
      const error = await rejection(auth.getPhoneNumber({ errMsg: 'getPhoneNumber:ok' }));
      expect(error).to.be.instanceOf(AuthError);
      expect(error).to.include({ code: 'invalid_request' });
      expect(wx.calls.length).to.equal(before);
    });

    it("passes the service's error on as AuthError with its code (a used phone code)", async () => {
      const { user, auth } = await loggedInPhone();
      const code = s.h.emulator.phoneCode(user.openid);
      await auth.getPhoneNumber({ code });
      const error = await rejection(auth.getPhoneNumber({ code }));
      expect(error).to.be.instanceOf(AuthError);
      expect((error as AuthError).status).to.equal(400);
      expect((error as AuthError).code)
        .to.be.a('string')
        .and.not.equal('invalid_response');
    });
  });

  describe('userInfo(detail) and decrypt(detail)', () => {
    it("decrypts wx.getUserProfile()'s data, with its rawData signature checked", async () => {
      const { user, wx, auth } = await loggedInPhone();
      const profile = s.h.emulator.encrypt(user.openid, 'userInfo');
      const info = await auth.userInfo<{ openId: string; nickName: string }>({
        errMsg: 'getUserProfile:ok',
        ...profile,
      });
      expect(info).to.include({ openId: user.openid, nickName: '微信用户' });
      expect(info).not.to.have.property('watermark');
      expect(wx.requests('POST /wechat/user-info')).to.have.length(1);
    });

    it('forwards rawData and signature: a wrong signature is refused as invalid_signature', async () => {
      const { user, auth } = await loggedInPhone();
      const profile = s.h.emulator.encrypt(user.openid, 'userInfo');
      const error = await rejection(auth.userInfo({ ...profile, signature: '0'.repeat(40) }));
      expect(error).to.be.instanceOf(AuthError);
      expect(error).to.include({ code: 'invalid_signature', status: 400 });
    });

    it('decrypts any open data, watermark removed', async () => {
      const { user, auth } = await loggedInPhone();
      const steps = { stepInfoList: [{ timestamp: 1700000000, step: 4321 }] };
      const data = await auth.decrypt(s.h.emulator.encrypt(user.openid, 'raw', steps));
      expect(data).to.deep.equal(steps);
    });

    it('passes invalid_open_data on as AuthError without logging in again', async () => {
      const { user, wx, auth } = await loggedInPhone();
      const foreign = s.h.emulator.encrypt(user.openid, 'raw', {
        watermark: { appid: 'wxother', timestamp: 1 },
      });
      const error = await rejection(auth.decrypt(foreign));
      expect(error).to.be.instanceOf(AuthError).and.not.instanceOf(DecryptFailedError);
      expect(error).to.include({ code: 'invalid_open_data', status: 400 });
      expect(wx.logins()).to.equal(1);
    });
  });

  describe('a stale session_key', () => {
    it('logs in again after decrypt_failed and rejects with DecryptFailedError; the data asked again decrypts', async () => {
      const { user, wx, auth } = await loggedInPhone();
      s.h.emulator.login(user.openid); // WeChat rotated the key; the service still holds the old one
      const stale = s.h.emulator.encrypt(user.openid, 'phone');
      const error = await rejection(auth.getPhoneNumber({ errMsg: 'getPhoneNumber:ok', ...stale }));
      expect(error).to.be.instanceOf(DecryptFailedError);
      expect(error).to.include({ code: 'decrypt_failed', askAgain: true, status: 400 });
      expect(steps(wx).slice(-3)).to.deep.equal(['POST /wechat/phone-number', 'login', 'POST /auth/login']);
      const askedAgain = s.h.emulator.encrypt(user.openid, 'phone');
      expect(await auth.getPhoneNumber({ errMsg: 'getPhoneNumber:ok', ...askedAgain })).to.include({
        purePhoneNumber: '13800138000',
      });
    });

    it('logs in again after login_required (no session_key stored) and rejects with DecryptFailedError', async () => {
      const { user, wx, auth } = await loggedInPhone();
      const { userKeys } = await import('../../src/store/index.js');
      await s.h.redis!.client.del(userKeys(s.h.redis!.prefix, user.openid).user);
      const error = await rejection(auth.decrypt(s.h.emulator.encrypt(user.openid, 'raw', { a: 1 })));
      expect(error).to.be.instanceOf(DecryptFailedError);
      expect(wx.requests('POST /wechat/decrypt')).to.have.length(1);
      expect(wx.logins()).to.equal(2);
      expect(await auth.decrypt(s.h.emulator.encrypt(user.openid, 'raw', { a: 1 }))).to.deep.equal({ a: 1 });
    });

    it("never calls wx.login() between the button's event and its decrypt request: an expired token is refreshed", async () => {
      const { user, wx, auth } = await loggedInPhone();
      s.h.clock.advance(ACCESS_TTL_MS + 1000);
      const before = wx.calls.length;
      const detail = { errMsg: 'getPhoneNumber:ok', ...s.h.emulator.encrypt(user.openid, 'phone') };
      expect(await auth.getPhoneNumber(detail)).to.include({ purePhoneNumber: '13800138000' });
      expect(steps(wx).slice(before)).to.deep.equal(['POST /auth/refresh', 'POST /wechat/phone-number']);
    });

    it('when only a new login would do, logs in but never sends the data encrypted before it: asks again', async () => {
      const { user, wx, auth } = await loggedInPhone();
      const other = s.phone({ openid: user.openid });
      await other.auth.login();
      await other.auth.logout({ all: true }); // this phone's refresh token is dead too
      s.h.clock.advance(ACCESS_TTL_MS + 1000);
      const detail = { errMsg: 'getUserProfile:ok', ...s.h.emulator.encrypt(user.openid, 'userInfo') };
      const error = await rejection(auth.userInfo(detail));
      expect(error).to.be.instanceOf(DecryptFailedError);
      expect(wx.requests('POST /wechat/user-info')).to.have.length(0);
      expect(steps(wx).slice(-3)).to.deep.equal(['POST /auth/refresh', 'login', 'POST /auth/login']);
      const askedAgain = { errMsg: 'getUserProfile:ok', ...s.h.emulator.encrypt(user.openid, 'userInfo') };
      expect(await auth.userInfo(askedAgain)).to.include({ openId: user.openid });
    });

    it('with no session at all, logs in and asks again rather than send the data', async () => {
      const user = s.h.emulator.createUser();
      const { wx, auth } = s.phone({ openid: user.openid });
      const error = await rejection(auth.decrypt(s.h.emulator.encrypt(user.openid, 'raw', { a: 1 })));
      expect(error).to.be.instanceOf(DecryptFailedError);
      expect(steps(wx)).to.deep.equal(['login', 'POST /auth/login']);
    });
  });
});
