import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { createEmulator, type Emulator } from '../../src/emulator/index.js';
import { AppError } from '../../src/errors/index.js';
import { createLogger, ManualClock } from '../../src/lib/index.js';
import { connectRedis, MemoryStore, RedisStore, type SessionStore } from '../../src/store/index.js';
import { createWechatClient, createWechatTransport, type WechatClient } from '../../src/wechat/index.js';
import { freshPrefix, testRedis } from '../setup/hooks.js';

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(AppError);
    return error as AppError;
  }
  throw new Error('expected a rejection');
}

describe('WeChat client', () => {
  let clock: ManualClock;
  let emulator: Emulator;
  let prefix: string;
  let stores: SessionStore[];
  let logs: string[];

  beforeEach(async () => {
    clock = new ManualClock(Date.UTC(2024, 0, 1));
    emulator = createEmulator({ clock });
    await emulator.listen(0);
    prefix = freshPrefix();
    stores = [];
    logs = [];
  });

  afterEach(async () => {
    for (const store of stores) await store.close();
    await emulator.close();
  });

  /** A RedisStore on the shared prefix: every store made here is another instance's view of one Redis. */
  async function sharedStore(): Promise<SessionStore> {
    const client = connectRedis({ url: (await testRedis()).url }) as Redis;
    await once(client, 'ready');
    const store = new RedisStore(client, { prefix });
    stores.push(store);
    return store;
  }

  /** One instance of the service's WeChat client. */
  async function instance(
    options: { store?: SessionStore; apiBase?: string; timeoutMs?: number } = {},
  ): Promise<WechatClient> {
    return createWechatClient({
      apiBase: options.apiBase ?? emulator.url,
      appid: emulator.appid,
      secret: emulator.secret,
      timeoutMs: options.timeoutMs ?? 2000,
      logger: createLogger({ level: 'info', destination: { write: (line: string) => void logs.push(line) } }),
      clock,
      store: options.store ?? (await sharedStore()),
    });
  }

  function logEvents(): string[] {
    return logs.map((line) => JSON.parse(line).event).filter(Boolean);
  }

  describe('getPhoneNumber', () => {
    it('redeems a getPhoneNumber code for the phone number, without the watermark', async () => {
      const user = emulator.createUser({ phoneNumber: '13800138000' });
      const wechat = await instance();
      expect(await wechat.getPhoneNumber(emulator.phoneCode(user.openid))).to.deep.equal({
        phoneNumber: '13800138000',
        purePhoneNumber: '13800138000',
        countryCode: '86',
      });
    });

    it('answers the country code in phoneNumber outside mainland China', async () => {
      const user = emulator.createUser({ phoneNumber: '61234567', countryCode: '852' });
      const wechat = await instance();
      expect(await wechat.getPhoneNumber(emulator.phoneCode(user.openid))).to.deep.equal({
        phoneNumber: '+85261234567',
        purePhoneNumber: '61234567',
        countryCode: '852',
      });
    });

    it('answers invalid_grant telling the client to ask the user again for a code used twice or unknown', async () => {
      const user = emulator.createUser();
      const wechat = await instance();
      const code = emulator.phoneCode(user.openid);
      await wechat.getPhoneNumber(code);
      for (const again of [code, 'no-such-code']) {
        const error = await rejection(wechat.getPhoneNumber(again));
        expect(error).to.include({ status: 400, error: 'invalid_grant', wechatErrcode: 40029 });
        expect(error.message).to.contain('getPhoneNumber button again');
      }
    });

    it('answers invalid_grant for a code older than five minutes', async () => {
      const user = emulator.createUser();
      const wechat = await instance();
      const code = emulator.phoneCode(user.openid);
      clock.advance(5 * 60_000);
      expect((await rejection(wechat.getPhoneNumber(code))).error).to.equal('invalid_grant');
    });

    const faults: Array<[string, Parameters<Emulator['setFault']>[0], number, string]> = [
      ['WeChat is busy (-1)', { api: 'getuserphonenumber', mode: 'busy' }, 502, 'upstream_unavailable'],
      ['WeChat answers garbage', { api: 'getuserphonenumber', mode: 'garbage' }, 502, 'upstream_unavailable'],
      [
        'WeChat limits the API (45011)',
        { api: 'getuserphonenumber', mode: 'errcode', errcode: 45011 },
        429,
        'rate_limited',
      ],
      [
        'WeChat does not answer in time',
        { api: 'getuserphonenumber', mode: 'slow', delayMs: 2000 },
        504,
        'upstream_unavailable',
      ],
      ['stable_token is busy', { api: 'stable_token', mode: 'busy' }, 502, 'upstream_unavailable'],
      [
        'stable_token times out',
        { api: 'stable_token', mode: 'slow', delayMs: 2000 },
        504,
        'upstream_unavailable',
      ],
    ];
    for (const [name, fault, status, error] of faults) {
      it(`answers ${status} ${error} when ${name}`, async () => {
        const user = emulator.createUser();
        const wechat = await instance({ timeoutMs: 300 });
        emulator.setFault(fault);
        expect(await rejection(wechat.getPhoneNumber(emulator.phoneCode(user.openid)))).to.include({
          status,
          error,
        });
        emulator.assertNoPendingFaults();
      });
    }

    it('logs a wrong AppSecret at stable_token as a configuration fault and answers 502', async () => {
      const user = emulator.createUser();
      const wechat = await instance();
      emulator.setFault({ api: 'stable_token', mode: 'errcode', errcode: 40125 });
      const error = await rejection(wechat.getPhoneNumber(emulator.phoneCode(user.openid)));
      expect(error).to.include({ status: 502, error: 'upstream_unavailable', wechatErrcode: 40125 });
      expect(logEvents()).to.include('wechat_config_fault');
    });
  });

  describe('checkSessionKey', () => {
    it('answers true for the current session_key and false once a new wx.login() replaced it', async () => {
      const user = emulator.createUser();
      const wechat = await instance();
      const key = emulator.sessionKeyOf(user.openid);
      expect(await wechat.checkSessionKey(user.openid, key)).to.equal(true);
      emulator.login(user.openid);
      expect(await wechat.checkSessionKey(user.openid, key)).to.equal(false);
      expect(await wechat.checkSessionKey(user.openid, emulator.sessionKeyOf(user.openid))).to.equal(true);
    });

    it('answers 502 for an openid WeChat does not know (40003)', async () => {
      const wechat = await instance();
      const error = await rejection(wechat.checkSessionKey('oNobody', 'tiihtNczf5v6AKRyjwEUhQ=='));
      expect(error).to.include({ status: 502, error: 'upstream_unavailable', wechatErrcode: 40003 });
    });

    it('shares the access_token with getPhoneNumber', async () => {
      const user = emulator.createUser();
      const wechat = await instance();
      await wechat.getPhoneNumber(emulator.phoneCode(user.openid));
      await wechat.checkSessionKey(user.openid, emulator.sessionKeyOf(user.openid));
      expect(emulator.calls('stable_token')).to.equal(1);
    });
  });

  describe('circuit breakers', () => {
    it("opens only the failing API's breaker: jscode2session and getuserphonenumber still answer while checksession's is open", async () => {
      const user = emulator.createUser();
      const wechat = await instance();
      const key = emulator.sessionKeyOf(user.openid);
      emulator.setFault({ api: 'checksession', mode: 'busy', times: 5 });
      for (let i = 0; i < 5; i += 1) {
        expect((await rejection(wechat.checkSessionKey(user.openid, key))).status).to.equal(502);
      }
      const open = await rejection(wechat.checkSessionKey(user.openid, key));
      expect(open).to.include({ status: 502, error: 'upstream_unavailable' });
      expect(open.retryAfter).to.be.a('number');
      expect(emulator.calls('checksession')).to.equal(5);

      const login = emulator.login(user.openid);
      expect((await wechat.code2Session(login.code)).openid).to.equal(user.openid);
      expect((await wechat.getPhoneNumber(emulator.phoneCode(user.openid))).purePhoneNumber).to.equal(
        user.phoneNumber,
      );
    });

    it("keeps checksession callable while jscode2session's breaker is open", async () => {
      const user = emulator.createUser();
      const wechat = await instance();
      emulator.setFault({ api: 'jscode2session', mode: 'http500', times: 5 });
      for (let i = 0; i < 6; i += 1) {
        expect((await rejection(wechat.code2Session(emulator.login(user.openid).code))).status).to.equal(502);
      }
      expect(emulator.calls('jscode2session')).to.equal(5);
      expect(await wechat.checkSessionKey(user.openid, emulator.sessionKeyOf(user.openid))).to.equal(true);
    });
  });

  describe('diagnoseSessionKey', () => {
    it('asks checksession at most once per user per minute, and again after the minute', async () => {
      const [a, b] = [emulator.createUser(), emulator.createUser()];
      const wechat = await instance();
      const keyA = emulator.sessionKeyOf(a.openid);
      expect(await wechat.diagnoseSessionKey(a.openid, keyA)).to.equal(true);
      for (let i = 0; i < 5; i += 1) {
        expect(await wechat.diagnoseSessionKey(a.openid, keyA)).to.equal('not_checked');
      }
      expect(await wechat.diagnoseSessionKey(b.openid, emulator.sessionKeyOf(b.openid))).to.equal(true);
      expect(emulator.calls('checksession')).to.equal(2);
      clock.advance(60_000);
      emulator.login(a.openid);
      expect(await wechat.diagnoseSessionKey(a.openid, keyA)).to.equal(false);
      expect(emulator.calls('checksession')).to.equal(3);
    });

    it("answers 'unknown' instead of throwing when WeChat cannot say, and counts that as the minute's check", async () => {
      const user = emulator.createUser();
      const wechat = await instance();
      const key = emulator.sessionKeyOf(user.openid);
      emulator.setFault({ api: 'checksession', mode: 'busy' });
      expect(await wechat.diagnoseSessionKey(user.openid, key)).to.equal('unknown');
      expect(await wechat.diagnoseSessionKey(user.openid, key)).to.equal('not_checked');
      expect(emulator.calls('checksession')).to.equal(1);
    });
  });

  describe('the overall deadline', () => {
    it('answers 504 within about the timeout when the token fetch, a rejected token and the retry together outlast it', async () => {
      const user = emulator.createUser();
      const wechat = await instance({ timeoutMs: 400 });
      // Each call stays under the timeout; together they take about 1200 ms.
      emulator.setFault({ api: 'stable_token', mode: 'slow', delayMs: 300, times: 3 });
      emulator.setFault({ api: 'getuserphonenumber', mode: 'errcode', errcode: 40001 });
      emulator.setFault({ api: 'getuserphonenumber', mode: 'slow', delayMs: 300 });
      const started = performance.now();
      const error = await rejection(wechat.getPhoneNumber(emulator.phoneCode(user.openid)));
      expect(error).to.include({ status: 504, error: 'upstream_unavailable' });
      expect(performance.now() - started).to.be.below(400 + 250);
    });

    it('answers 504 within about the timeout when it waits on a dead lock holder, then fetches slowly itself', async () => {
      const user = emulator.createUser();
      const store = await sharedStore();
      await store.acquireLock('wechat-access-token', 'dead-instance', 60_000);
      emulator.setFault({ api: 'stable_token', mode: 'slow', delayMs: 1000 });
      const started = performance.now();
      const wechat = await instance({ store, timeoutMs: 400 });
      const error = await rejection(wechat.getPhoneNumber(emulator.phoneCode(user.openid)));
      expect(error).to.include({ status: 504, error: 'upstream_unavailable' });
      expect(performance.now() - started).to.be.below(400 + 250);
    });
  });

  describe('the access_token', () => {
    it('is fetched once for eleven concurrent calls of one instance', async () => {
      const user = emulator.createUser();
      const wechat = await instance();
      const codes = Array.from({ length: 11 }, () => emulator.phoneCode(user.openid));
      const answers = await Promise.all(codes.map((code) => wechat.getPhoneNumber(code)));
      expect(answers).to.have.length(11);
      expect(emulator.calls('stable_token')).to.equal(1);
      expect(emulator.calls('getuserphonenumber')).to.equal(11);
    });

    it('is fetched once for the calls of two instances sharing one Redis, concurrent or not', async () => {
      const user = emulator.createUser();
      const [a, b] = [await instance(), await instance()];
      const calls = [a, b, a, b, a, b].map((wechat) =>
        wechat.getPhoneNumber(emulator.phoneCode(user.openid)),
      );
      await Promise.all(calls);
      await b.getPhoneNumber(emulator.phoneCode(user.openid));
      await (await instance()).getPhoneNumber(emulator.phoneCode(user.openid));
      expect(emulator.calls('stable_token')).to.equal(1);
    });

    it('is cached in the store, not in the process: a new instance takes it without fetching', async () => {
      const user = emulator.createUser();
      await (await instance()).getPhoneNumber(emulator.phoneCode(user.openid));
      const cached = await (await sharedStore()).getWechatAccessToken(clock.now());
      expect(cached?.token).to.be.a('string');
      // WeChat said 7200 s; the cache gives it up 4 minutes before.
      expect(cached?.expiresAtMs).to.equal(clock.now() + (7200 - 240) * 1000);
      await (await instance()).getPhoneNumber(emulator.phoneCode(user.openid));
      expect(emulator.calls('stable_token')).to.equal(1);
    });

    it('is fetched again once it is within 4 minutes of its expiry, and WeChat then gives a new one', async () => {
      const user = emulator.createUser();
      const wechat = await instance();
      await wechat.getPhoneNumber(emulator.phoneCode(user.openid));
      const first = (await (await sharedStore()).getWechatAccessToken(clock.now()))!.token;
      clock.advance((7200 - 241) * 1000);
      await wechat.getPhoneNumber(emulator.phoneCode(user.openid));
      expect(emulator.calls('stable_token')).to.equal(1);
      clock.advance(1000);
      await wechat.getPhoneNumber(emulator.phoneCode(user.openid));
      expect(emulator.calls('stable_token')).to.equal(2);
      const second = (await (await sharedStore()).getWechatAccessToken(clock.now()))!.token;
      expect(second).not.to.equal(first);
    });

    it('is fetched once more after WeChat invalidates it, and the call succeeds on the retry', async () => {
      const user = emulator.createUser({ phoneNumber: '13900000000' });
      const wechat = await instance();
      await wechat.getPhoneNumber(emulator.phoneCode(user.openid));
      emulator.invalidateAccessTokens();
      // The rejected call's code was not consumed: WeChat checks the token first.
      const phone = await wechat.getPhoneNumber(emulator.phoneCode(user.openid));
      expect(phone.purePhoneNumber).to.equal('13900000000');
      expect(emulator.calls('stable_token')).to.equal(2);
      expect(emulator.calls('getuserphonenumber')).to.equal(3);
      for (let i = 0; i < 3; i += 1) await wechat.getPhoneNumber(emulator.phoneCode(user.openid));
      expect(emulator.calls('stable_token')).to.equal(2);
      expect(logEvents()).to.include('access_token_rejected');
    });

    for (const errcode of [40001, 42001, 40014]) {
      it(`is renewed with force_refresh after ${errcode} when WeChat still hands out the rejected token`, async () => {
        const user = emulator.createUser();
        const wechat = await instance();
        await wechat.getPhoneNumber(emulator.phoneCode(user.openid));
        const store = await sharedStore();
        const rejected = (await store.getWechatAccessToken(clock.now()))!.token;
        emulator.setFault({ api: 'getuserphonenumber', mode: 'errcode', errcode });
        await wechat.getPhoneNumber(emulator.phoneCode(user.openid));
        // One fetch answered the same token again; only then force_refresh, which gives a new one.
        expect(emulator.calls('stable_token')).to.equal(3);
        expect(logEvents()).to.include('access_token_force_refresh');
        const renewed = (await store.getWechatAccessToken(clock.now()))!.token;
        expect(renewed).not.to.equal(rejected);
        emulator.assertNoPendingFaults();
      });
    }

    it('is retried once only: a second rejection answers 502 with the errcode', async () => {
      const user = emulator.createUser();
      const wechat = await instance();
      emulator.setFault({ api: 'getuserphonenumber', mode: 'errcode', errcode: 40001, times: 2 });
      const error = await rejection(wechat.getPhoneNumber(emulator.phoneCode(user.openid)));
      expect(error).to.include({ status: 502, error: 'upstream_unavailable', wechatErrcode: 40001 });
      expect(emulator.calls('getuserphonenumber')).to.equal(2);
    });

    it("is renewed once for two instances whose calls both met the invalidated token, the second taking the first's", async () => {
      const user = emulator.createUser();
      const [a, b] = [await instance(), await instance()];
      await a.getPhoneNumber(emulator.phoneCode(user.openid));
      emulator.invalidateAccessTokens();
      await Promise.all([
        a.getPhoneNumber(emulator.phoneCode(user.openid)),
        b.getPhoneNumber(emulator.phoneCode(user.openid)),
      ]);
      expect(emulator.calls('stable_token')).to.equal(2);
    });

    it('releases the lock after fetching', async () => {
      const user = emulator.createUser();
      const store = await sharedStore();
      await (await instance({ store })).getPhoneNumber(emulator.phoneCode(user.openid));
      expect(await store.acquireLock('wechat-access-token', 'test', 1000)).to.equal(true);
    });

    it('is fetched by a waiting instance itself, within its deadline, when the lock holder never delivers', async () => {
      const user = emulator.createUser();
      const store = await sharedStore();
      // As if an instance took the lock and died.
      await store.acquireLock('wechat-access-token', 'dead-instance', 60_000);
      const started = performance.now();
      await (await instance({ store, timeoutMs: 400 })).getPhoneNumber(emulator.phoneCode(user.openid));
      // It waits for the holder half of its time, then fetches with the other half.
      expect(performance.now() - started).to.be.within(150, 400);
      expect(emulator.calls('stable_token')).to.equal(1);
      expect(logEvents()).to.include('access_token_wait_timeout');
    });

    it('works the same on the in-memory store', async () => {
      const user = emulator.createUser();
      const store = new MemoryStore({ clock });
      stores.push(store);
      const wechat = await instance({ store });
      const codes = Array.from({ length: 5 }, () => emulator.phoneCode(user.openid));
      await Promise.all(codes.map((code) => wechat.getPhoneNumber(code)));
      emulator.invalidateAccessTokens();
      await wechat.getPhoneNumber(emulator.phoneCode(user.openid));
      expect(emulator.calls('stable_token')).to.equal(2);
    });

    it('is never written to a log line', async () => {
      const user = emulator.createUser();
      const wechat = await instance();
      await wechat.getPhoneNumber(emulator.phoneCode(user.openid));
      emulator.invalidateAccessTokens();
      await wechat.getPhoneNumber(emulator.phoneCode(user.openid));
      const token = (await (await sharedStore()).getWechatAccessToken(clock.now()))!.token;
      expect(logs.join('\n')).not.to.contain(token);
      expect(logs.join('\n')).not.to.contain(emulator.secret);
    });
  });

  describe('against a server answering shapes WeChat should not', () => {
    let fake: Server;
    let answers: Record<string, object>;

    beforeEach(async () => {
      answers = {};
      fake = createServer((req, res) => {
        const path = new URL(req.url ?? '/', 'http://fake').pathname;
        req.resume();
        req.on('end', () => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(answers[path] ?? { errcode: -1, errmsg: 'no such api' }));
        });
      });
      fake.listen(0, '127.0.0.1');
      await once(fake, 'listening');
    });

    afterEach(async () => {
      fake.closeAllConnections();
      await new Promise((resolve) => fake.close(resolve));
    });

    const url = () => `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;

    it('answers 502 when getuserphonenumber has no phone_info', async () => {
      answers['/cgi-bin/stable_token'] = { access_token: 'T', expires_in: 7200 };
      answers['/wxa/business/getuserphonenumber'] = { errcode: 0, errmsg: 'ok' };
      const error = await rejection((await instance({ apiBase: url() })).getPhoneNumber('code'));
      expect(error).to.include({ status: 502, error: 'upstream_unavailable' });
      expect(error.message).to.contain('phone_info');
    });

    it('answers 502 when phone_info lacks a field', async () => {
      answers['/cgi-bin/stable_token'] = { access_token: 'T', expires_in: 7200 };
      answers['/wxa/business/getuserphonenumber'] = {
        errcode: 0,
        phone_info: { phoneNumber: '13800138000', countryCode: '86' },
      };
      const error = await rejection((await instance({ apiBase: url() })).getPhoneNumber('code'));
      expect(error).to.include({ status: 502, error: 'upstream_unavailable' });
    });

    it('answers 502 when stable_token has no usable access_token or expires_in', async () => {
      for (const body of [
        { expires_in: 7200 },
        { access_token: 'T' },
        { access_token: '', expires_in: 7200 },
      ]) {
        answers['/cgi-bin/stable_token'] = body;
        const error = await rejection((await instance({ apiBase: url() })).getPhoneNumber('code'));
        expect(error).to.include({ status: 502, error: 'upstream_unavailable' });
        expect(error.message).to.contain('stable_token');
      }
    });
  });
});

describe('WeChat transport', () => {
  it('does not count a timeout against the breaker when the call had only the scraps of its deadline', async () => {
    const emulator = createEmulator();
    await emulator.listen(0);
    try {
      const transport = createWechatTransport({
        apiBase: emulator.url,
        timeoutMs: 400,
        logger: createLogger({ level: 'silent' }),
        breakerThreshold: 2,
        breakerCooldownMs: 60_000,
      });
      const request = () => ({
        api: 'jscode2session',
        method: 'GET' as const,
        path: 'sns/jscode2session',
        searchParams: {
          appid: emulator.appid,
          secret: emulator.secret,
          js_code: emulator.login().code,
          grant_type: 'authorization_code',
        },
      });
      for (let i = 0; i < 3; i += 1) {
        emulator.setFault({ api: 'jscode2session', mode: 'slow', delayMs: 150 });
        const starved = transport.call({ ...request(), deadline: performance.now() + 50 });
        expect((await rejection(starved)).status).to.equal(504);
      }
      // Healthy again, and its breaker still closed: WeChat never had a fair chance to fail.
      expect((await transport.call(request())).openid).to.be.a('string');
    } finally {
      await emulator.close();
    }
  });
});
