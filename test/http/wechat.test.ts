import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { Fault } from '../../src/emulator/index.js';
import { createAccessTokens } from '../../src/tokens/index.js';
import { type Harness, harnessForEachTest, startHarness } from '../helpers/harness.js';
import { WECHAT_DEMO } from '../helpers/wechat-demo.js';
import { type RedisServer, startRedisServer } from '../setup/hooks.js';

type Request = ReturnType<Harness['http']['post']>;

/** A token the service signed for `openid`, whose user never logged in (no session_key stored). */
async function tokenFor(h: Harness, openid: string): Promise<string> {
  const access = createAccessTokens({
    keys: h.keys,
    clock: h.clock,
    issuer: h.config.tokens.issuer,
    audience: h.config.tokens.audience,
    clientId: h.emulator.appid,
    ttlS: h.config.tokens.accessTtlS,
    clockToleranceS: 0,
  });
  return (await access.issue(openid, 'no-session')).token;
}

/** Flips the first bit of a base64 iv: the plaintext's leading '{' becomes 'z', so it is no longer JSON. */
function alteredIv(iv: string): string {
  const bytes = Buffer.from(iv, 'base64');
  bytes[0] = bytes[0]! ^ 0x01;
  return bytes.toString('base64');
}

function events(h: Harness): Array<Record<string, unknown>> {
  return h.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('/wechat/* routes', () => {
  let h: Harness;
  harnessForEachTest({ env: { WECHAT_TIMEOUT_MS: '400' } }, (made) => {
    h = made;
  });

  const post = (path: string, token: string | undefined, body?: object | string): Request => {
    const req = h.http.post(path);
    if (token !== undefined) req.set('Authorization', `Bearer ${token}`);
    return body === undefined ? req : req.send(body);
  };

  /** A logged-in user: the emulated one and the token response. */
  async function loggedIn(opts: Parameters<Harness['emulator']['createUser']>[0] = {}) {
    const user = h.emulator.createUser(opts);
    const login = await h.login(user.openid);
    return { user, token: login.access_token };
  }

  describe('POST /wechat/phone-number', () => {
    it('answers the phone number for a getPhoneNumber code (current API), uncacheable', async () => {
      const { user, token } = await loggedIn({ phoneNumber: '13800138000' });
      const res = await post('/wechat/phone-number', token, {
        code: h.emulator.phoneCode(user.openid),
      }).expect(200);
      expect(res.body).to.deep.equal({
        phoneNumber: '13800138000',
        purePhoneNumber: '13800138000',
        countryCode: '86',
      });
      expect(res.headers['cache-control']).to.equal('no-store');
    });

    it('answers the same three fields for encryptedData and iv (legacy API), asking WeChat nothing', async () => {
      const { user, token } = await loggedIn({ phoneNumber: '61234567', countryCode: '852' });
      const before = h.emulator.calls();
      const res = await post('/wechat/phone-number', token, h.emulator.encrypt(user.openid, 'phone')).expect(
        200,
      );
      expect(res.body).to.deep.equal({
        phoneNumber: '+85261234567',
        purePhoneNumber: '61234567',
        countryCode: '852',
      });
      expect(h.emulator.calls()).to.equal(before);
    });

    it('takes a form-encoded code', async () => {
      const { user, token } = await loggedIn();
      const code = h.emulator.phoneCode(user.openid);
      const res = await post('/wechat/phone-number', token)
        .type('form')
        .send(`code=${encodeURIComponent(code)}`)
        .expect(200);
      expect(res.body.purePhoneNumber).to.equal(user.phoneNumber);
    });

    it('takes form-encoded legacy data whose every + became a space on the way', async () => {
      const { user, token } = await loggedIn();
      let sealed = h.emulator.encrypt(user.openid, 'phone');
      while (!sealed.encryptedData.includes('+')) sealed = h.emulator.encrypt(user.openid, 'phone');
      // Sent raw, as a careless client does: form decoding turns each + into a space.
      const res = await post('/wechat/phone-number', token)
        .type('form')
        .send(`encryptedData=${sealed.encryptedData}&iv=${sealed.iv}`)
        .expect(200);
      expect(res.body.purePhoneNumber).to.equal(user.phoneNumber);
    });

    it("uses the code when the button's e.detail is forwarded as is, with the legacy fields too", async () => {
      const { user, token } = await loggedIn();
      const detail = {
        errMsg: 'getPhoneNumber:ok',
        code: h.emulator.phoneCode(user.openid),
        // Encrypted under a key this service never stored: only the code path can succeed.
        encryptedData: randomBytes(64).toString('base64'),
        iv: randomBytes(16).toString('base64'),
        cloudID: '66_abc',
      };
      const res = await post('/wechat/phone-number', token, detail).expect(200);
      expect(res.body.purePhoneNumber).to.equal(user.phoneNumber);
      expect(h.emulator.calls('getuserphonenumber')).to.equal(1);
    });

    it('fetches one access_token for eleven phone-number calls, and one more after WeChat invalidates it', async () => {
      const { user, token } = await loggedIn();
      const codes = Array.from({ length: 11 }, () => h.emulator.phoneCode(user.openid));
      const answers = await Promise.all(codes.map((code) => post('/wechat/phone-number', token, { code })));
      expect(answers.map((res) => res.status)).to.deep.equal(Array(11).fill(200));
      expect(h.emulator.calls('stable_token')).to.equal(1);

      h.emulator.invalidateAccessTokens();
      for (let i = 0; i < 11; i += 1) {
        await post('/wechat/phone-number', token, { code: h.emulator.phoneCode(user.openid) }).expect(200);
      }
      expect(h.emulator.calls('stable_token')).to.equal(2);
    });

    it('fetches one access_token between two instances of the service sharing one Redis', async () => {
      const twin = await startHarness({ peer: h, env: { WECHAT_TIMEOUT_MS: '400' } });
      try {
        const { user, token } = await loggedIn();
        const calls = [h, twin, h, twin, h, twin].map((instance) =>
          instance.http
            .post('/wechat/phone-number')
            .set('Authorization', `Bearer ${token}`)
            .send({ code: h.emulator.phoneCode(user.openid) }),
        );
        expect((await Promise.all(calls)).map((res) => res.status)).to.deep.equal(Array(6).fill(200));
        expect(h.emulator.calls('stable_token')).to.equal(1);
      } finally {
        await twin.close();
      }
    });

    it('answers invalid_grant, telling the client to ask the user again, to a phone code used twice', async () => {
      const { user, token } = await loggedIn();
      const code = h.emulator.phoneCode(user.openid);
      await post('/wechat/phone-number', token, { code }).expect(200);
      const res = await post('/wechat/phone-number', token, { code }).expect(400);
      expect(res.body).to.include({ error: 'invalid_grant', wechat_errcode: 40029 });
      expect(res.body.error_description).to.contain('getPhoneNumber button again');
    });

    it('answers 504 within about WECHAT_TIMEOUT_MS when the token fetch, a rejected token and the retry each stay under it', async () => {
      const { user, token } = await loggedIn();
      // Each call stays under the 400 ms timeout; together they take about 1200 ms.
      h.emulator.setFault({ api: 'stable_token', mode: 'slow', delayMs: 300, times: 3 });
      h.emulator.setFault({ api: 'getuserphonenumber', mode: 'errcode', errcode: 40001 });
      h.emulator.setFault({ api: 'getuserphonenumber', mode: 'slow', delayMs: 300 });
      const started = performance.now();
      const res = await post('/wechat/phone-number', token, { code: h.emulator.phoneCode(user.openid) });
      expect(res.status, JSON.stringify(res.body)).to.equal(504);
      expect(res.body.error).to.equal('upstream_unavailable');
      expect(performance.now() - started).to.be.below(400 + 250);
      // The deadline cut the sequence short: the retry's slow call was never made.
      expect(() => h.emulator.assertNoPendingFaults()).to.throw(/getuserphonenumber slow/);
      h.emulator.clearFaults();
    });

    const faults: Array<[string, Fault, number, string]> = [
      ['WeChat is busy (-1)', { api: 'getuserphonenumber', mode: 'busy' }, 502, 'upstream_unavailable'],
      [
        'WeChat answers HTTP 500',
        { api: 'getuserphonenumber', mode: 'http500' },
        502,
        'upstream_unavailable',
      ],
      [
        'WeChat drops the connection',
        { api: 'getuserphonenumber', mode: 'drop' },
        502,
        'upstream_unavailable',
      ],
      [
        'WeChat does not answer in time',
        { api: 'getuserphonenumber', mode: 'slow', delayMs: 2000 },
        504,
        'upstream_unavailable',
      ],
      [
        "WeChat's risk control refuses (40226)",
        { api: 'getuserphonenumber', mode: 'errcode', errcode: 40226 },
        403,
        'access_denied',
      ],
      [
        'WeChat rate-limits the API (45011)',
        { api: 'getuserphonenumber', mode: 'errcode', errcode: 45011 },
        429,
        'rate_limited',
      ],
      [
        'WeChat rejects the access_token twice (40001)',
        { api: 'getuserphonenumber', mode: 'errcode', errcode: 40001, times: 2 },
        502,
        'upstream_unavailable',
      ],
      ['stable_token fails', { api: 'stable_token', mode: 'busy' }, 502, 'upstream_unavailable'],
    ];
    for (const [name, fault, status, error] of faults) {
      it(`answers ${status} ${error} when ${name}`, async () => {
        const { user, token } = await loggedIn();
        h.emulator.setFault(fault);
        const res = await post('/wechat/phone-number', token, { code: h.emulator.phoneCode(user.openid) });
        expect(res.status, JSON.stringify(res.body)).to.equal(status);
        expect(res.body.error).to.equal(error);
        if (status === 429) expect(res.headers['retry-after']).to.match(/^\d+$/);
        h.emulator.assertNoPendingFaults();
      });
    }

    const malformed: Array<[string, (h: Harness, openid: string) => object | string]> = [
      ['an empty body', () => ({})],
      [
        'neither code nor encryptedData, only other fields',
        () => ({ errMsg: 'getPhoneNumber:fail user deny' }),
      ],
      ['a code with a space', () => ({ code: 'abc def' })],
      ['a code of 129 characters', () => ({ code: 'a'.repeat(129) })],
      ['a numeric code', () => ({ code: 12345 })],
      [
        'encryptedData without iv',
        (h, openid) => ({ encryptedData: h.emulator.encrypt(openid, 'phone').encryptedData }),
      ],
      ['iv without encryptedData', (h, openid) => ({ iv: h.emulator.encrypt(openid, 'phone').iv })],
      [
        'encryptedData that is not base64',
        (h, openid) => ({ ...h.emulator.encrypt(openid, 'phone'), encryptedData: 'not*base64' }),
      ],
      [
        'encryptedData without its base64 padding',
        (h, openid) => {
          const sealed = h.emulator.encrypt(openid, 'phone');
          return { ...sealed, encryptedData: `${sealed.encryptedData}A` };
        },
      ],
      [
        'an iv of 15 bytes',
        (h, openid) => ({ ...h.emulator.encrypt(openid, 'phone'), iv: randomBytes(15).toString('base64') }),
      ],
      [
        'a ciphertext that is not a multiple of 16 bytes',
        (h, openid) => ({
          ...h.emulator.encrypt(openid, 'phone'),
          encryptedData: randomBytes(33).toString('base64'),
        }),
      ],
      [
        'a ciphertext over 64 KiB',
        (h, openid) => ({
          ...h.emulator.encrypt(openid, 'phone'),
          encryptedData: randomBytes(65_552).toString('base64'),
        }),
      ],
      [
        'encryptedData as a number',
        (h, openid) => ({ ...h.emulator.encrypt(openid, 'phone'), encryptedData: 42 }),
      ],
      ['iv as an array', (h, openid) => ({ ...h.emulator.encrypt(openid, 'phone'), iv: ['a'] })],
      ['a JSON array', () => [{ code: 'abc' }]],
      ['broken JSON', () => '{"code": '],
    ];
    for (const [name, body] of malformed) {
      it(`answers 400 invalid_request to ${name}, asking WeChat nothing`, async () => {
        const { user, token } = await loggedIn();
        const before = h.emulator.calls();
        const payload = body(h, user.openid);
        const req = post('/wechat/phone-number', token);
        const res = await (typeof payload === 'string' ? req.type('json').send(payload) : req.send(payload));
        expect(res.status, JSON.stringify(res.body)).to.equal(400);
        expect(res.body.error).to.equal('invalid_request');
        expect(res.body.error_description).to.be.a('string').and.not.be.empty;
        expect(h.emulator.calls()).to.equal(before);
      });
    }

    it('answers 413 invalid_request to a body over the limit', async () => {
      const { user, token } = await loggedIn();
      const sealed = h.emulator.encrypt(user.openid, 'phone');
      const res = await post('/wechat/phone-number', token, { ...sealed, pad: 'x'.repeat(200_000) });
      expect(res.status).to.equal(413);
      expect(res.body.error).to.equal('invalid_request');
    });

    it('answers decrypt_failed, telling the client to log in again, once the phone called wx.login() again', async () => {
      const { user, token } = await loggedIn();
      // The phone logs in again but never sends the new code: its data is now under a key we lack.
      h.emulator.login(user.openid);
      const res = await post('/wechat/phone-number', token, h.emulator.encrypt(user.openid, 'phone')).expect(
        400,
      );
      expect(res.body.error).to.equal('decrypt_failed');
      expect(res.body.error_description).to.contain('wx.login()').and.contain('/auth/login');
      const line = events(h).find((e) => e.event === 'open_data_decrypt_failed');
      expect(line).to.include({ session_key_valid: false });
    });

    it('answers decrypt_failed saying the key is still valid when the data was altered', async () => {
      const { user, token } = await loggedIn();
      const sealed = h.emulator.encrypt(user.openid, 'phone');
      const res = await post('/wechat/phone-number', token, { ...sealed, iv: alteredIv(sealed.iv) }).expect(
        400,
      );
      expect(res.body.error).to.equal('decrypt_failed');
      expect(res.body.error_description).to.contain('still valid');
      expect(events(h).find((e) => e.event === 'open_data_decrypt_failed')).to.include({
        session_key_valid: true,
      });
    });

    it('answers decrypt_failed all the same when WeChat cannot say whether the key is live', async () => {
      const { user, token } = await loggedIn();
      h.emulator.login(user.openid);
      h.emulator.setFault({ api: 'checksession', mode: 'busy' });
      const res = await post('/wechat/phone-number', token, h.emulator.encrypt(user.openid, 'phone')).expect(
        400,
      );
      expect(res.body.error).to.equal('decrypt_failed');
      expect(events(h).find((e) => e.event === 'open_data_decrypt_failed')).to.include({
        session_key_valid: 'unknown',
      });
    });

    it('asks checksession at most once per user per minute however many decrypts fail, answering decrypt_failed each time', async () => {
      const { user, token } = await loggedIn();
      const bogus = () => {
        const sealed = h.emulator.encrypt(user.openid, 'phone');
        return post('/wechat/phone-number', token, { ...sealed, iv: alteredIv(sealed.iv) });
      };
      for (let i = 0; i < 6; i += 1)
        expect((await bogus().expect(400)).body.error).to.equal('decrypt_failed');
      expect(h.emulator.calls('checksession')).to.equal(1);
      const diagnoses = events(h).filter((e) => e.event === 'open_data_decrypt_failed');
      expect(diagnoses.map((e) => e.session_key_valid)).to.deep.equal([
        true,
        ...Array(5).fill('not_checked'),
      ]);
      h.clock.advance(60_000);
      await bogus().expect(400);
      expect(h.emulator.calls('checksession')).to.equal(2);
    });

    it('still logs users in after bogus decrypts met a failing checksession', async () => {
      const users = await Promise.all(Array.from({ length: 6 }, () => loggedIn()));
      // Five failures open checksession's breaker (WECHAT_BREAKER_THRESHOLD); the sixth user's check fails fast.
      h.emulator.setFault({ api: 'checksession', mode: 'http500', times: 5 });
      for (const { user, token } of users) {
        for (let i = 0; i < 3; i += 1) {
          const sealed = h.emulator.encrypt(user.openid, 'raw');
          const res = await post('/wechat/decrypt', token, { ...sealed, iv: alteredIv(sealed.iv) }).expect(
            400,
          );
          expect(res.body.error).to.equal('decrypt_failed');
        }
      }
      await h.login(users[0]!.user.openid);
    });

    it("answers invalid_open_data to another mini-program's data", async () => {
      const { user, token } = await loggedIn();
      const foreign = h.emulator.encrypt(user.openid, 'phone', {
        watermark: { timestamp: 1, appid: 'wx0123456789abcdef' },
      });
      const res = await post('/wechat/phone-number', token, foreign).expect(400);
      expect(res.body.error).to.equal('invalid_open_data');
    });

    it('answers invalid_open_data to data naming another user', async () => {
      const { user, token } = await loggedIn();
      const other = h.emulator.encrypt(user.openid, 'phone', { openId: 'oSomebodyElse00000000000000' });
      const res = await post('/wechat/phone-number', token, other).expect(400);
      expect(res.body.error).to.equal('invalid_open_data');
    });

    it('answers invalid_open_data to open data that is not a phone number', async () => {
      const { user, token } = await loggedIn();
      const res = await post(
        '/wechat/phone-number',
        token,
        h.emulator.encrypt(user.openid, 'raw', { a: 1 }),
      ).expect(400);
      expect(res.body.error).to.equal('invalid_open_data');
    });

    it('answers 401 login_required to legacy data from a user with no session_key stored', async () => {
      const user = h.emulator.createUser();
      const token = await tokenFor(h, user.openid);
      const res = await post('/wechat/phone-number', token, h.emulator.encrypt(user.openid, 'phone')).expect(
        401,
      );
      expect(res.body.error).to.equal('login_required');
      expect(res.body.error_description).to.contain('/auth/login');
    });

    it('answers 401 invalid_token without a token or with a forged one, before reading the body', async () => {
      const bare = await post('/wechat/phone-number', undefined, { code: 'abc' }).expect(401);
      expect(bare.headers['www-authenticate']).to.equal('Bearer realm="wxauth"');
      expect(bare.body.error).to.equal('invalid_token');
      const forged = await post('/wechat/phone-number', 'x.y.z', {}).expect(401);
      expect(forged.headers['www-authenticate']).to.contain('error="invalid_token"');
    });
  });

  describe('POST /wechat/user-info', () => {
    it("decrypts WeChat's published demo data to the published user info, watermark removed", async () => {
      const demo = await startHarness({ appid: WECHAT_DEMO.appid });
      try {
        await demo.store.recordLogin({
          openid: WECHAT_DEMO.openid,
          sessionKey: WECHAT_DEMO.sessionKey,
          familyId: 'demo-family',
          tokenHash: Buffer.alloc(32),
          nowMs: demo.clock.now(),
          refreshTtlS: 3600,
          maxSessions: 50,
        });
        const res = await demo.http
          .post('/wechat/user-info')
          .set('Authorization', `Bearer ${await tokenFor(demo, WECHAT_DEMO.openid)}`)
          .send({ encryptedData: WECHAT_DEMO.encryptedData, iv: WECHAT_DEMO.iv })
          .expect(200);
        expect(res.body).to.deep.equal(WECHAT_DEMO.userInfo);
        expect(res.body).not.to.have.property('watermark');
      } finally {
        await demo.close();
      }
    });

    it('answers the user info after checking the rawData signature, taking e.detail as is', async () => {
      const { user, token } = await loggedIn({ unionid: true });
      const sealed = h.emulator.encrypt(user.openid, 'userInfo', { nickName: 'Band' });
      const detail = {
        errMsg: 'getUserProfile:ok',
        userInfo: JSON.parse(sealed.rawData!),
        cloudID: 'x',
        ...sealed,
      };
      const res = await post('/wechat/user-info', token, detail).expect(200);
      expect(res.body).to.include({ openId: user.openid, nickName: 'Band', unionId: user.unionid });
      expect(res.body).not.to.have.property('watermark');
    });

    it('answers the user info without rawData and signature', async () => {
      const { user, token } = await loggedIn();
      const { encryptedData, iv } = h.emulator.encrypt(user.openid, 'userInfo');
      const res = await post('/wechat/user-info', token, { encryptedData, iv }).expect(200);
      expect(res.body.openId).to.equal(user.openid);
    });

    it('answers invalid_signature when rawData was altered', async () => {
      const { user, token } = await loggedIn();
      const sealed = h.emulator.encrypt(user.openid, 'userInfo');
      const altered = { ...sealed, rawData: sealed.rawData!.replace('微信用户', 'Mallory') };
      const res = await post('/wechat/user-info', token, altered).expect(400);
      expect(res.body.error).to.equal('invalid_signature');
    });

    it('answers invalid_open_data to user info of another user', async () => {
      const { user, token } = await loggedIn();
      const other = h.emulator.encrypt(user.openid, 'userInfo', { openId: 'oSomebodyElse00000000000000' });
      expect((await post('/wechat/user-info', token, other).expect(400)).body.error).to.equal(
        'invalid_open_data',
      );
    });

    const malformed: Array<[string, (sealed: Record<string, string>) => object]> = [
      ['rawData without signature', ({ encryptedData, iv, rawData }) => ({ encryptedData, iv, rawData })],
      ['signature without rawData', ({ encryptedData, iv, signature }) => ({ encryptedData, iv, signature })],
      ['a signature that is not a sha1', (sealed) => ({ ...sealed, signature: 'zz' })],
      ['rawData as an object', (sealed) => ({ ...sealed, rawData: { nickName: 'x' } })],
      ['no iv', ({ encryptedData }) => ({ encryptedData })],
      ['an iv of 15 bytes', (sealed) => ({ ...sealed, iv: randomBytes(15).toString('base64') })],
    ];
    for (const [name, build] of malformed) {
      it(`answers 400 invalid_request to ${name}`, async () => {
        const { user, token } = await loggedIn();
        const sealed = h.emulator.encrypt(user.openid, 'userInfo') as unknown as Record<string, string>;
        const res = await post('/wechat/user-info', token, build(sealed));
        expect(res.status, JSON.stringify(res.body)).to.equal(400);
        expect(res.body.error).to.equal('invalid_request');
      });
    }

    it('answers decrypt_failed (not invalid_signature) once the session_key is stale', async () => {
      const { user, token } = await loggedIn();
      h.emulator.login(user.openid);
      const res = await post('/wechat/user-info', token, h.emulator.encrypt(user.openid, 'userInfo')).expect(
        400,
      );
      expect(res.body.error).to.equal('decrypt_failed');
    });
  });

  describe('POST /wechat/decrypt', () => {
    it('answers any open data (WeRun steps) without its watermark', async () => {
      const { user, token } = await loggedIn();
      const stepInfoList = [{ timestamp: 1445866601, step: 100 }];
      const res = await post(
        '/wechat/decrypt',
        token,
        h.emulator.encrypt(user.openid, 'raw', { stepInfoList }),
      ).expect(200);
      expect(res.body).to.deep.equal({ stepInfoList });
    });

    it("answers invalid_open_data to another mini-program's data and to data naming another user", async () => {
      const { user, token } = await loggedIn();
      const foreign = h.emulator.encrypt(user.openid, 'raw', {
        watermark: { appid: 'wxOther', timestamp: 1 },
      });
      expect((await post('/wechat/decrypt', token, foreign).expect(400)).body.error).to.equal(
        'invalid_open_data',
      );
      const other = h.emulator.encrypt(user.openid, 'raw', { openId: 'oSomebodyElse00000000000000' });
      expect((await post('/wechat/decrypt', token, other).expect(400)).body.error).to.equal(
        'invalid_open_data',
      );
    });

    it('answers 401 login_required for a user with no session_key stored', async () => {
      const user = h.emulator.createUser();
      const res = await post(
        '/wechat/decrypt',
        await tokenFor(h, user.openid),
        h.emulator.encrypt(user.openid, 'raw'),
      );
      expect(res.status).to.equal(401);
      expect(res.body.error).to.equal('login_required');
    });

    it('answers 400 invalid_request to an empty body, naming the fields', async () => {
      const { token } = await loggedIn();
      const res = await post('/wechat/decrypt', token, {}).expect(400);
      expect(res.body).to.include({ error: 'invalid_request' });
      expect(res.body.error_description).to.contain('encryptedData').and.contain('iv');
    });
  });

  describe('GET /wechat/session', () => {
    const session = (token?: string) => {
      const req = h.http.get('/wechat/session');
      return token === undefined ? req : req.set('Authorization', `Bearer ${token}`);
    };

    it('answers true while the stored session_key is live, false after a new wx.login(), true after /auth/login', async () => {
      const { user, token } = await loggedIn();
      expect((await session(token).expect(200)).body).to.deep.equal({ session_key_valid: true });
      const { code } = h.emulator.login(user.openid);
      expect((await session(token).expect(200)).body).to.deep.equal({ session_key_valid: false });
      const fresh = await h.http.post('/auth/login').send({ code }).expect(200);
      expect((await session(fresh.body.access_token).expect(200)).body).to.deep.equal({
        session_key_valid: true,
      });
    });

    it('answers 401 login_required for a user with no session_key stored, and invalid_token without a token', async () => {
      expect(
        (await session(await tokenFor(h, 'oNeverLoggedIn0000000000000')).expect(401)).body.error,
      ).to.equal('login_required');
      expect((await session().expect(401)).body.error).to.equal('invalid_token');
    });

    it("keeps logging users in and redeeming phone codes while checksession's breaker is open", async () => {
      const { user, token } = await loggedIn();
      h.emulator.setFault({ api: 'checksession', mode: 'busy', times: h.config.wechat.breakerThreshold });
      for (let i = 0; i < h.config.wechat.breakerThreshold; i += 1) await session(token).expect(502);
      const open = await session(token).expect(502);
      expect(open.headers['retry-after']).to.match(/^\d+$/);
      expect(h.emulator.calls('checksession')).to.equal(h.config.wechat.breakerThreshold);
      await h.login(user.openid);
      await post('/wechat/phone-number', token, { code: h.emulator.phoneCode(user.openid) }).expect(200);
    });

    it('answers 502 when WeChat is busy and 504 when it does not answer in time', async () => {
      const { token } = await loggedIn();
      h.emulator.setFault({ api: 'checksession', mode: 'busy' });
      expect((await session(token).expect(502)).body.error).to.equal('upstream_unavailable');
      h.emulator.setFault({ api: 'checksession', mode: 'slow', delayMs: 2000 });
      expect((await session(token).expect(504)).body.error).to.equal('upstream_unavailable');
    });
  });

  it('answers no odd body on any POST route with a 5xx', async () => {
    const { user, token } = await loggedIn();
    const sealed = h.emulator.encrypt(user.openid, 'userInfo');
    const odd: Array<(r: Request) => Request> = [
      (r) => r,
      (r) => r.type('json').send('null'),
      (r) => r.type('json').send('"text"'),
      (r) => r.type('json').send('{"__proto__": {"code": "x"}, "constructor": {"prototype": {}}}'),
      (r) => r.type('text/plain').send('encryptedData=a&iv=b'),
      (r) => r.type('form').send('encryptedData[a]=b&iv[]=c'),
      (r) => r.type('form').send('code=a&code=b'),
      (r) => r.type('form').send(`encryptedData=${'%00'.repeat(32)}&iv=${'%FF'.repeat(16)}`),
      (r) => r.send({ encryptedData: ' '.repeat(64), iv: ' '.repeat(24) }),
      (r) => r.send({ encryptedData: '='.repeat(64), iv: '='.repeat(24) }),
      (r) => r.send({ ...sealed, rawData: 'x'.repeat(20_000) }),
      (r) => r.send({ ...sealed, signature: sealed.signature!.toUpperCase(), rawData: `${sealed.rawData}x` }),
      (r) => r.send({ encryptedData: sealed.encryptedData, iv: sealed.iv, code: null }),
      (r) => r.send({ encryptedData: null, iv: null }),
    ];
    for (const path of ['/wechat/phone-number', '/wechat/user-info', '/wechat/decrypt']) {
      for (const [i, build] of odd.entries()) {
        const res = await build(post(path, token));
        expect(res.status, `${path} #${i}: ${JSON.stringify(res.body)}`).to.be.below(500);
        if (res.status >= 400) expect(res.body.error, `${path} #${i}`).to.be.a('string');
      }
    }
  });

  it('never writes the session_key or the WeChat access_token into a response or a log line', async () => {
    const { user, token } = await loggedIn();
    const responses: unknown[] = [];
    const sealed = h.emulator.encrypt(user.openid, 'userInfo');
    responses.push((await post('/wechat/user-info', token, sealed)).body);
    responses.push(
      (await post('/wechat/phone-number', token, h.emulator.encrypt(user.openid, 'phone'))).body,
    );
    responses.push(
      (await post('/wechat/phone-number', token, { code: h.emulator.phoneCode(user.openid) })).body,
    );
    responses.push((await post('/wechat/decrypt', token, h.emulator.encrypt(user.openid, 'raw'))).body);
    responses.push((await h.http.get('/wechat/session').set('Authorization', `Bearer ${token}`)).body);
    responses.push(
      (await post('/wechat/user-info', token, { ...sealed, rawData: `${sealed.rawData} ` })).body,
    );
    const stale = h.emulator.sessionKeyOf(user.openid);
    h.emulator.login(user.openid);
    responses.push((await post('/wechat/decrypt', token, h.emulator.encrypt(user.openid, 'raw'))).body);
    h.emulator.invalidateAccessTokens();
    responses.push((await h.http.get('/wechat/session').set('Authorization', `Bearer ${token}`)).body);

    const wechatToken = (await h.store.getWechatAccessToken(h.clock.now()))!.token;
    const everything = `${JSON.stringify(responses)}\n${h.logs.join('\n')}`;
    for (const secret of [stale, h.emulator.sessionKeyOf(user.openid), wechatToken, h.emulator.secret]) {
      expect(everything).not.to.contain(secret);
    }
    expect(events(h).filter((e) => e.event === 'access_token_fetched')).to.have.length(2);
  });

  it('answers 429 rate_limited past the per-user limit of the /wechat/* routes', async () => {
    const limited = await startHarness({ env: { RATE_LIMIT_WECHAT_PER_USER: '2/60' } });
    try {
      const user = limited.emulator.createUser();
      const login = await limited.login(user.openid);
      const call = () =>
        limited.http
          .post('/wechat/decrypt')
          .set('Authorization', `Bearer ${login.access_token}`)
          .send(limited.emulator.encrypt(user.openid, 'raw'));
      await call().expect(200);
      await call().expect(200);
      const res = await call().expect(429);
      expect(res.body.error).to.equal('rate_limited');
      expect(res.headers['retry-after']).to.match(/^\d+$/);
    } finally {
      await limited.close();
    }
  });

  describe('while Redis is unreachable', () => {
    let server: RedisServer;
    let down: Harness;
    before(async () => {
      server = await startRedisServer();
      down = await startHarness({ redisServer: server });
    });
    after(async () => {
      await down.close();
      await server.stop();
    });

    it('answers 503 temporarily_unavailable to the routes that need the session_key', async () => {
      const user = down.emulator.createUser();
      const login = await down.login(user.openid);
      const sealed = down.emulator.encrypt(user.openid, 'raw');
      await server.freeze();
      try {
        const res = await down.http
          .post('/wechat/decrypt')
          .set('Authorization', `Bearer ${login.access_token}`)
          .send(sealed);
        expect(res.status).to.equal(503);
        expect(res.body.error).to.equal('temporarily_unavailable');
        expect(res.headers['retry-after']).to.match(/^\d+$/);
      } finally {
        await server.thaw();
      }
    });
  });
});
