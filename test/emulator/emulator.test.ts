import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { decryptOpenData, rawDataSignature, sessionKeySignature } from '../../src/crypto/index.js';
import { createEmulator, type Emulator, type Fault } from '../../src/emulator/index.js';
import { ManualClock } from '../../src/lib/index.js';

const RID = /^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$/;
const OPENID = /^o[A-Za-z0-9_-]{27}$/;
const SESSION_KEY = /^[A-Za-z0-9+/]{22}==$/;
const START = Date.UTC(2024, 0, 1);

interface Answer {
  status: number;
  contentType: string | null;
  text: string;
  /** The parsed body; {} when it is not JSON. */
  body: Record<string, unknown>;
}

describe('WeChat API emulator', () => {
  let clock: ManualClock;
  let emulator: Emulator;

  beforeEach(async () => {
    clock = new ManualClock(START);
    emulator = createEmulator({ clock });
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
      // Left empty: the faults that answer garbage are checked through `text`.
    }
    return { status: res.status, contentType: res.headers.get('content-type'), text, body };
  }

  function postJson(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    return request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  }

  function jscode2session(code: string, overrides: Record<string, string> = {}): Promise<Answer> {
    const query = new URLSearchParams({
      appid: emulator.appid,
      secret: emulator.secret,
      js_code: code,
      grant_type: 'authorization_code',
      ...overrides,
    });
    return request(`/sns/jscode2session?${query}`);
  }

  function stableToken(extra: Record<string, unknown> = {}): Promise<Answer> {
    return postJson('/cgi-bin/stable_token', {
      grant_type: 'client_credential',
      appid: emulator.appid,
      secret: emulator.secret,
      ...extra,
    });
  }

  function legacyToken(): Promise<Answer> {
    const query = new URLSearchParams({
      grant_type: 'client_credential',
      appid: emulator.appid,
      secret: emulator.secret,
    });
    return request(`/cgi-bin/token?${query}`);
  }

  async function accessToken(): Promise<string> {
    const { body } = await stableToken();
    expect(body.access_token).to.be.a('string');
    return body.access_token as string;
  }

  function phoneNumber(token: string | undefined, body: unknown): Promise<Answer> {
    const query = token === undefined ? '' : `?${new URLSearchParams({ access_token: token })}`;
    return postJson(`/wxa/business/getuserphonenumber${query}`, body);
  }

  function checkSession(
    token: string,
    openid: string,
    signature: string,
    sigMethod = 'hmac_sha256',
  ): Promise<Answer> {
    const query = new URLSearchParams({ access_token: token, openid, signature, sig_method: sigMethod });
    return request(`/wxa/checksession?${query}`);
  }

  function expectWechatError(answer: Answer, errcode: number, errmsg: string): void {
    expect(answer.status, answer.text).to.equal(200);
    expect(answer.body.errcode, answer.text).to.equal(errcode);
    const [message, rid, ...rest] = String(answer.body.errmsg).split(', rid: ');
    expect(message).to.equal(errmsg);
    expect(rid).to.match(RID);
    expect(rest).to.be.empty;
  }

  /** Resolves once the emulator has received `n` requests in all. */
  async function receivedCalls(n: number): Promise<void> {
    while (emulator.calls() < n) await new Promise((resolve) => setTimeout(resolve, 5));
  }

  describe('createEmulator()', () => {
    it('generates a WeChat-shaped appid and secret when none are given', () => {
      expect(emulator.appid).to.match(/^wx[0-9a-f]{16}$/);
      expect(emulator.secret).to.match(/^[0-9a-f]{32}$/);
    });

    it('uses the appid and secret it is given', async () => {
      const own = createEmulator({ appid: 'wx0123456789abcdef', secret: 's'.repeat(32) });
      expect(own).to.include({ appid: 'wx0123456789abcdef', secret: 's'.repeat(32) });
      await own.close();
    });

    it('resolves listen() with its loopback base URL, which url then gives', async () => {
      const other = createEmulator();
      expect(() => other.url).to.throw(/before listen/);
      const url = await other.listen();
      expect(url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(other.url).to.equal(url);
      await other.close();
    });

    it('closes idempotently', async () => {
      await emulator.close();
      await emulator.close();
    });

    it('refuses a non-positive code lifetime', () => {
      expect(() => createEmulator({ codeTtlMs: 0 })).to.throw(RangeError);
    });
  });

  describe('GET /sns/jscode2session', () => {
    it('answers JSON as text/plain with a base64 session_key and a WeChat-shaped openid', async () => {
      const { code, openid } = emulator.login();
      const answer = await jscode2session(code);
      expect(answer.status).to.equal(200);
      expect(answer.contentType).to.equal('text/plain');
      expect(answer.body).to.deep.equal({ session_key: emulator.sessionKeyOf(openid), openid });
      expect(openid).to.match(OPENID);
      expect(answer.body.session_key).to.match(SESSION_KEY);
    });

    it('gives a 32-character alphanumeric code, as wx.login() does', () => {
      expect(emulator.login().code).to.match(/^[A-Za-z0-9]{32}$/);
    });

    it('includes the unionid only for a user who has one', async () => {
      const withUnion = emulator.createUser({ unionid: true });
      expect(withUnion.unionid).to.match(OPENID);
      const answer = await jscode2session(emulator.login(withUnion.openid).code);
      expect(answer.body.unionid).to.equal(withUnion.unionid);

      const chosen = emulator.createUser({ unionid: 'o-union-chosen' });
      expect((await jscode2session(emulator.login(chosen.openid).code)).body.unionid).to.equal(
        'o-union-chosen',
      );
      expect((await jscode2session(emulator.login().code)).body).not.to.have.property('unionid');
    });

    it('answers a code exchanged twice with 40163', async () => {
      const { code } = emulator.login();
      expect((await jscode2session(code)).body).to.have.property('session_key');
      expectWechatError(await jscode2session(code), 40163, 'code been used');
    });

    it('answers an unknown or missing code with 40029', async () => {
      expectWechatError(await jscode2session('no-such-code'), 40029, 'invalid code');
      expectWechatError(await jscode2session(''), 40029, 'invalid code');
    });

    it('answers a code with 40029 from the end of its 5-minute life on', async () => {
      const first = emulator.login();
      const second = emulator.login();
      clock.advance(299_999);
      expect((await jscode2session(first.code)).body.openid).to.equal(first.openid);
      clock.advance(1);
      expectWechatError(await jscode2session(second.code), 40029, 'invalid code');
    });

    it('answers a used code with 40029 once it has expired', async () => {
      const { code } = emulator.login();
      await jscode2session(code);
      clock.advance(300_000);
      expectWechatError(await jscode2session(code), 40029, 'invalid code');
    });

    it('honours codeTtlMs', async () => {
      const short = createEmulator({ clock, codeTtlMs: 1000 });
      await short.listen();
      try {
        const { code } = short.login();
        clock.advance(1000);
        const query = new URLSearchParams({
          appid: short.appid,
          secret: short.secret,
          js_code: code,
          grant_type: 'authorization_code',
        });
        const body = (await (await fetch(`${short.url}/sns/jscode2session?${query}`)).json()) as {
          errcode: number;
        };
        expect(body.errcode).to.equal(40029);
      } finally {
        await short.close();
      }
    });

    it('answers a wrong appid with 40013 and a wrong secret with 40125', async () => {
      const { code } = emulator.login();
      expectWechatError(await jscode2session(code, { appid: 'wx0000000000000000' }), 40013, 'invalid appid');
      expectWechatError(await jscode2session(code, { secret: 'f'.repeat(32) }), 40125, 'invalid appsecret');
      expect((await jscode2session(code)).body.openid).to.be.a('string');
    });

    it('answers a missing appid with 41002 and a missing secret with 41004', async () => {
      const query = new URLSearchParams({ js_code: 'x', grant_type: 'authorization_code' });
      expectWechatError(await request(`/sns/jscode2session?${query}`), 41002, 'appid missing');
      query.set('appid', emulator.appid);
      expectWechatError(await request(`/sns/jscode2session?${query}`), 41004, 'appsecret missing');
    });

    it('answers another grant_type with 40002', async () => {
      expectWechatError(
        await jscode2session(emulator.login().code, { grant_type: 'client_credential' }),
        40002,
        'invalid grant_type',
      );
    });

    it('answers a POST with 43001', async () => {
      expectWechatError(await postJson('/sns/jscode2session', {}), 43001, 'require GET method');
    });

    it('gives a new session_key on each wx.login(), and keeps it when asked to', async () => {
      const { openid } = emulator.login();
      const first = emulator.sessionKeyOf(openid);
      emulator.login(openid);
      const second = emulator.sessionKeyOf(openid);
      expect(second).to.match(SESSION_KEY).and.not.equal(first);
      emulator.login(openid, { rotateSessionKey: false });
      expect(emulator.sessionKeyOf(openid)).to.equal(second);
    });

    it('answers the session_key current at exchange time, not at login time', async () => {
      const { code, openid } = emulator.login();
      emulator.login(openid);
      const answer = await jscode2session(code);
      expect(answer.body.session_key).to.equal(emulator.sessionKeyOf(openid));
    });

    it('creates the user on wx.login() with an openid it does not know', async () => {
      const { code, openid } = emulator.login('o-newcomer');
      expect(openid).to.equal('o-newcomer');
      expect((await jscode2session(code)).body.openid).to.equal('o-newcomer');
    });

    it('counts every request per API, refused and faulted ones included', async () => {
      emulator.setFault({ api: 'jscode2session', mode: 'busy' });
      await jscode2session('x');
      await jscode2session('y');
      await legacyToken();
      expect(emulator.calls('jscode2session')).to.equal(2);
      expect(emulator.calls('token')).to.equal(1);
      expect(emulator.calls('stable_token')).to.equal(0);
      expect(emulator.calls()).to.equal(3);
    });
  });

  describe('faults', () => {
    it('busy: answers 200 with errcode -1 and a rid', async () => {
      emulator.setFault({ api: 'jscode2session', mode: 'busy' });
      const answer = await jscode2session(emulator.login().code);
      expectWechatError(answer, -1, 'system error');
      expect(answer.contentType).to.equal('text/plain');
    });

    it('http500: answers HTTP 500 with an HTML page', async () => {
      emulator.setFault({ api: 'stable_token', mode: 'http500' });
      const answer = await stableToken();
      expect(answer.status).to.equal(500);
      expect(answer.contentType).to.equal('text/html');
      expect(answer.text).to.contain('<html>');
    });

    it('garbage: answers 200 with a body that is not JSON', async () => {
      emulator.setFault({ api: 'jscode2session', mode: 'garbage' });
      const answer = await jscode2session(emulator.login().code);
      expect(answer.status).to.equal(200);
      expect(() => JSON.parse(answer.text)).to.throw(SyntaxError);
    });

    it('drop: destroys the connection without answering, and leaves the code unused', async () => {
      const { code, openid } = emulator.login();
      emulator.setFault({ api: 'jscode2session', mode: 'drop' });
      let failure: unknown;
      await jscode2session(code).catch((error: unknown) => {
        failure = error;
      });
      expect(failure).to.be.instanceOf(TypeError);
      expect((failure as { cause?: { code?: string } }).cause?.code).to.equal('UND_ERR_SOCKET');
      expect((await jscode2session(code)).body.openid).to.equal(openid);
    });

    it('errcode: answers the armed errcode, with the errmsg given and a rid', async () => {
      emulator.setFault({
        api: 'jscode2session',
        mode: 'errcode',
        errcode: 45011,
        errmsg: 'api minute-quota reach limit',
      });
      expectWechatError(await jscode2session(emulator.login().code), 45011, 'api minute-quota reach limit');
    });

    it("errcode: uses WeChat's own errmsg when none is given", async () => {
      emulator.setFault({ api: 'jscode2session', mode: 'errcode', errcode: 40029 });
      emulator.setFault({ api: 'jscode2session', mode: 'errcode', errcode: 40226 });
      expectWechatError(await jscode2session(emulator.login().code), 40029, 'invalid code');
      expectWechatError(await jscode2session(emulator.login().code), 40226, 'emulated errcode 40226');
    });

    it('slow: answers correctly once delayMs has passed', async () => {
      const { code, openid } = emulator.login();
      emulator.setFault({ api: 'jscode2session', mode: 'slow', delayMs: 200 });
      const started = performance.now();
      const answer = await jscode2session(code);
      expect(performance.now() - started).to.be.at.least(190);
      expect(answer.body.openid).to.equal(openid);
    });

    it('slow: is released by close(), which resolves at once and ends the held connection', async () => {
      emulator.setFault({ api: 'jscode2session', mode: 'slow', delayMs: 60_000 });
      const pending = jscode2session(emulator.login().code).then(
        () => 'answered',
        () => 'connection ended',
      );
      await receivedCalls(1);
      const started = performance.now();
      await emulator.close();
      expect(performance.now() - started).to.be.below(1000);
      expect(await pending).to.equal('connection ended');
    });

    it('slow: does not keep the process alive after close()', async function () {
      this.timeout(20_000);
      const index = fileURLToPath(new URL('../../src/emulator/index.ts', import.meta.url));
      const script = `
        import { createEmulator } from ${JSON.stringify(index)};
        const e = createEmulator();
        const url = await e.listen();
        e.setFault({ api: '*', mode: 'slow', delayMs: 600000 });
        fetch(url + '/cgi-bin/token').catch(() => {});
        while (e.calls() === 0) await new Promise((r) => setTimeout(r, 5));
        await e.close();
        console.log('closed');
      `;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const [exitCode, signal] = await once(child, 'exit');
      clearTimeout(killer);
      expect(signal, 'the child had to be killed: something kept it alive').to.equal(null);
      expect(exitCode).to.equal(0);
      expect(output.trim()).to.equal('closed');
    });

    it('hits the next `times` requests, then no more', async () => {
      emulator.setFault({ api: 'token', mode: 'busy', times: 2 });
      expectWechatError(await legacyToken(), -1, 'system error');
      expectWechatError(await legacyToken(), -1, 'system error');
      expect((await legacyToken()).body.access_token).to.be.a('string');
    });

    it("applies a '*' fault to whichever API is called first", async () => {
      emulator.setFault({ api: '*', mode: 'busy' });
      expectWechatError(await stableToken(), -1, 'system error');
      expect((await stableToken()).body.access_token).to.be.a('string');
    });

    it('consumes the faults of one API in the order they were armed, leaving other APIs alone', async () => {
      emulator.setFault({ api: 'jscode2session', mode: 'errcode', errcode: 45011 });
      emulator.setFault({ api: 'jscode2session', mode: 'busy' });
      expect((await stableToken()).body.access_token).to.be.a('string');
      expect((await jscode2session('x')).body.errcode).to.equal(45011);
      expect((await jscode2session('x')).body.errcode).to.equal(-1);
      expect((await jscode2session('x')).body.errcode).to.equal(40029);
    });

    it('assertNoPendingFaults() throws listing armed faults never hit, and passes once they are', async () => {
      emulator.assertNoPendingFaults();
      emulator.setFault({ api: 'getuserphonenumber', mode: 'errcode', errcode: 40029 });
      emulator.setFault({ api: 'stable_token', mode: 'slow', delayMs: 10, times: 2 });
      expect(() => emulator.assertNoPendingFaults()).to.throw(
        /getuserphonenumber errcode 40029 \(1 left\); stable_token slow 10ms \(2 left\)/,
      );
      await stableToken();
      await stableToken();
      expect(() => emulator.assertNoPendingFaults()).to.throw(/getuserphonenumber/);
      await phoneNumber(undefined, { code: 'x' });
      emulator.assertNoPendingFaults();
    });

    it('clearFaults() disarms every fault', async () => {
      emulator.setFault({ api: '*', mode: 'drop', times: 5 });
      emulator.clearFaults();
      emulator.assertNoPendingFaults();
      expect((await stableToken()).status).to.equal(200);
    });

    const badFaults: Array<[string, unknown]> = [
      ['an unknown api', { api: 'getAccessToken', mode: 'busy' }],
      ['an unknown mode', { api: '*', mode: 'timeout' }],
      ['an errcode fault without errcode', { api: '*', mode: 'errcode' }],
      ['an errcode fault with errcode 0', { api: '*', mode: 'errcode', errcode: 0 }],
      ['an errcode on a busy fault', { api: '*', mode: 'busy', errcode: 1 }],
      ['a misspelt delayMs', { api: '*', mode: 'slow', delay: 100 }],
      ['zero times', { api: '*', mode: 'busy', times: 0 }],
      ['a fractional delay', { api: '*', mode: 'slow', delayMs: 1.5 }],
    ];
    for (const [name, fault] of badFaults) {
      it(`setFault() refuses ${name}`, () => {
        expect(() => emulator.setFault(fault as Fault)).to.throw(/must|needs|unknown field/);
        emulator.assertNoPendingFaults();
      });
    }
  });

  describe('access tokens', () => {
    it('stable_token answers application/json and the same token while it lives, with the time left', async () => {
      const first = await stableToken();
      expect(first.contentType).to.match(/^application\/json/);
      expect(first.body).to.have.keys('access_token', 'expires_in');
      expect(first.body.expires_in).to.equal(7200);
      clock.advance(1000 * 1000);
      const second = await stableToken();
      expect(second.body).to.deep.equal({ access_token: first.body.access_token, expires_in: 6200 });
    });

    it('stable_token with force_refresh issues a new token and ends the old one at once', async () => {
      const old = await accessToken();
      const fresh = (await stableToken({ force_refresh: true })).body.access_token as string;
      expect(fresh).to.be.a('string').and.not.equal(old);
      expectWechatError(
        await phoneNumber(old, { code: 'x' }),
        40001,
        'invalid credential, access_token is invalid or not latest',
      );
      expectWechatError(await phoneNumber(fresh, { code: 'x' }), 40029, 'invalid code');
    });

    it('stable_token issues a new token in the last 5 minutes of the old one, which lives on to its expiry', async () => {
      const old = await accessToken();
      clock.advance((7200 - 299) * 1000);
      const fresh = await accessToken();
      expect(fresh).not.to.equal(old);
      expectWechatError(await phoneNumber(old, { code: 'x' }), 40029, 'invalid code');
      clock.advance(299 * 1000);
      expectWechatError(await phoneNumber(old, { code: 'x' }), 42001, 'access_token expired');
    });

    it('answers an expired token with 42001, and stable_token then issues a new one', async () => {
      const old = await accessToken();
      clock.advance(7200 * 1000);
      expectWechatError(await phoneNumber(old, { code: 'x' }), 42001, 'access_token expired');
      expect(await accessToken()).not.to.equal(old);
    });

    it('honours accessTokenTtlS', async () => {
      const short = createEmulator({ clock, accessTokenTtlS: 600 });
      await short.listen();
      try {
        const res = await fetch(`${short.url}/cgi-bin/stable_token`, {
          method: 'POST',
          body: JSON.stringify({ grant_type: 'client_credential', appid: short.appid, secret: short.secret }),
        });
        expect(((await res.json()) as { expires_in: number }).expires_in).to.equal(600);
      } finally {
        await short.close();
      }
    });

    it('answers 40001 after invalidateAccessTokens(), and stable_token then issues a new one', async () => {
      const old = await accessToken();
      emulator.invalidateAccessTokens();
      expectWechatError(
        await phoneNumber(old, { code: 'x' }),
        40001,
        'invalid credential, access_token is invalid or not latest',
      );
      const fresh = await accessToken();
      expect(fresh).not.to.equal(old);
      expectWechatError(await phoneNumber(fresh, { code: 'x' }), 40029, 'invalid code');
    });

    it('answers a missing or unknown token with 40014', async () => {
      expectWechatError(await phoneNumber(undefined, { code: 'x' }), 40014, 'invalid access_token');
      expectWechatError(await phoneNumber('not-a-token', { code: 'x' }), 40014, 'invalid access_token');
    });

    it('stable_token answers a wrong appid with 40013, a wrong secret with 40125, a GET with 43002', async () => {
      expectWechatError(await stableToken({ appid: 'wx0000000000000000' }), 40013, 'invalid appid');
      expectWechatError(await stableToken({ secret: '0'.repeat(32) }), 40125, 'invalid appsecret');
      expectWechatError(await stableToken({ grant_type: 'authorization_code' }), 40002, 'invalid grant_type');
      expectWechatError(await request('/cgi-bin/stable_token'), 43002, 'require POST method');
      expectWechatError(
        await postJson('/cgi-bin/stable_token', 'grant_type=client_credential'),
        47001,
        'data format error',
      );
    });

    it('the legacy /cgi-bin/token issues a new token each time; the previous one works 5 more minutes', async () => {
      const first = await legacyToken();
      expect(first.body.expires_in).to.equal(7200);
      const second = await legacyToken();
      const old = first.body.access_token as string;
      expect(second.body.access_token).to.be.a('string').and.not.equal(old);
      clock.advance(299_999);
      expectWechatError(await phoneNumber(old, { code: 'x' }), 40029, 'invalid code');
      clock.advance(1);
      expectWechatError(
        await phoneNumber(old, { code: 'x' }),
        40001,
        'invalid credential, access_token is invalid or not latest',
      );
    });

    it('keeps stable and legacy tokens apart', async () => {
      const stable = await accessToken();
      await legacyToken();
      await legacyToken();
      expect(await accessToken()).to.equal(stable);
    });

    it('the legacy /cgi-bin/token answers a wrong secret with 40125', async () => {
      const query = new URLSearchParams({
        grant_type: 'client_credential',
        appid: emulator.appid,
        secret: 'nope',
      });
      expectWechatError(await request(`/cgi-bin/token?${query}`), 40125, 'invalid appsecret');
    });
  });

  describe('POST /wxa/business/getuserphonenumber', () => {
    it('answers phone_info with a watermark of this app for a fresh phone code', async () => {
      const user = emulator.createUser({ phoneNumber: '13800138000' });
      const answer = await phoneNumber(await accessToken(), { code: emulator.phoneCode(user.openid) });
      expect(answer.contentType).to.match(/^application\/json/);
      expect(answer.body).to.deep.equal({
        errcode: 0,
        errmsg: 'ok',
        phone_info: {
          phoneNumber: '13800138000',
          purePhoneNumber: '13800138000',
          countryCode: '86',
          watermark: { timestamp: START / 1000, appid: emulator.appid },
        },
      });
    });

    it('prefixes phoneNumber with the country code outside mainland China', async () => {
      const user = emulator.createUser({ phoneNumber: '61234567', countryCode: '852' });
      const answer = await phoneNumber(await accessToken(), { code: emulator.phoneCode(user.openid) });
      expect(answer.body.phone_info).to.include({
        phoneNumber: '+85261234567',
        purePhoneNumber: '61234567',
        countryCode: '852',
      });
    });

    it('answers a phone code used twice, unknown or expired with 40029', async () => {
      const token = await accessToken();
      const { openid } = emulator.createUser();
      const code = emulator.phoneCode(openid);
      expect((await phoneNumber(token, { code })).body.errcode).to.equal(0);
      expectWechatError(await phoneNumber(token, { code }), 40029, 'invalid code');
      expectWechatError(await phoneNumber(token, { code: 'unknown' }), 40029, 'invalid code');
      const late = emulator.phoneCode(openid);
      clock.advance(300_000);
      expectWechatError(await phoneNumber(await accessToken(), { code: late }), 40029, 'invalid code');
    });

    it('answers a body that is not a JSON object with 47001', async () => {
      const token = await accessToken();
      expectWechatError(await phoneNumber(token, '["code"]'), 47001, 'data format error');
      expectWechatError(await phoneNumber(token, '{"code":'), 47001, 'data format error');
    });

    it('checks the access token before the code, keeping the code usable', async () => {
      const { openid } = emulator.createUser();
      const code = emulator.phoneCode(openid);
      expectWechatError(await phoneNumber('stale', { code }), 40014, 'invalid access_token');
      expect((await phoneNumber(await accessToken(), { code })).body.errcode).to.equal(0);
    });
  });

  describe('GET /wxa/checksession', () => {
    it('answers ok for the signature of the current session_key and 87009 for a rotated one', async () => {
      const token = await accessToken();
      const { openid } = emulator.login();
      const signature = sessionKeySignature(emulator.sessionKeyOf(openid));
      expect((await checkSession(token, openid, signature)).body).to.deep.equal({ errcode: 0, errmsg: 'ok' });
      emulator.login(openid);
      expectWechatError(await checkSession(token, openid, signature), 87009, 'invalid signature');
    });

    it('answers an unknown openid with 40003 and another sig_method with 40097', async () => {
      const token = await accessToken();
      const { openid } = emulator.login();
      const signature = sessionKeySignature(emulator.sessionKeyOf(openid));
      expectWechatError(await checkSession(token, 'o-nobody', signature), 40003, 'invalid openid');
      expectWechatError(await checkSession(token, openid, signature, 'md5'), 40097, 'invalid args');
    });

    it('answers access-token errors as the other APIs do', async () => {
      const { openid } = emulator.login();
      const signature = sessionKeySignature(emulator.sessionKeyOf(openid));
      expectWechatError(await checkSession('nope', openid, signature), 40014, 'invalid access_token');
      const token = await accessToken();
      emulator.invalidateAccessTokens();
      expectWechatError(
        await checkSession(token, openid, signature),
        40001,
        'invalid credential, access_token is invalid or not latest',
      );
    });
  });

  describe('encrypt()', () => {
    it("encrypts the phone number under the user's current session_key", () => {
      const user = emulator.createUser({ phoneNumber: '13900139000' });
      emulator.login(user.openid);
      const sealed = emulator.encrypt(user.openid, 'phone');
      expect(sealed).to.have.keys('encryptedData', 'iv');
      expect(decryptOpenData(emulator.sessionKeyOf(user.openid), sealed)).to.deep.equal({
        phoneNumber: '13900139000',
        purePhoneNumber: '13900139000',
        countryCode: '86',
        watermark: { timestamp: START / 1000, appid: emulator.appid },
      });
    });

    it('encrypts user info with rawData and its sha1 signature', () => {
      const user = emulator.createUser({ unionid: true });
      const sessionKey = emulator.sessionKeyOf(user.openid);
      const sealed = emulator.encrypt(user.openid, 'userInfo');
      const data = decryptOpenData(sessionKey, sealed);
      expect(data).to.include({ openId: user.openid, unionId: user.unionid, nickName: '微信用户' });
      expect(Object.keys(data).at(-1)).to.equal('watermark');
      const rawData = JSON.parse(sealed.rawData!) as Record<string, unknown>;
      expect(rawData).to.have.keys(
        'nickName',
        'gender',
        'language',
        'city',
        'province',
        'country',
        'avatarUrl',
      );
      expect(rawData.nickName).to.equal(data.nickName);
      expect(sealed.signature).to.equal(rawDataSignature(sealed.rawData!, sessionKey));
    });

    it('adds a watermark to raw data, and lets data override any generated field', () => {
      const { openid } = emulator.createUser();
      const sessionKey = emulator.sessionKeyOf(openid);
      expect(
        decryptOpenData(sessionKey, emulator.encrypt(openid, 'raw', { stepInfoList: [{ step: 42 }] })),
      ).to.deep.equal({
        stepInfoList: [{ step: 42 }],
        watermark: { timestamp: START / 1000, appid: emulator.appid },
      });
      const foreign = { timestamp: 1, appid: 'wxffffffffffffffff' };
      const forged = decryptOpenData(
        sessionKey,
        emulator.encrypt(openid, 'userInfo', { openId: 'o-other', watermark: foreign }),
      );
      expect(forged).to.include({ openId: 'o-other' });
      expect(forged.watermark).to.deep.equal(foreign);
    });

    it('encrypts under a key the previous session_key cannot open after a new wx.login()', () => {
      const { openid } = emulator.login();
      const before = emulator.sessionKeyOf(openid);
      emulator.login(openid);
      expect(() => decryptOpenData(before, emulator.encrypt(openid, 'raw', { a: 1 }))).to.throw();
    });

    it('refuses an unknown openid and an unknown kind', () => {
      expect(() => emulator.encrypt('o-nobody', 'phone')).to.throw(/No emulated user/);
      const { openid } = emulator.createUser();
      expect(() => emulator.encrypt(openid, 'werun' as 'raw')).to.throw(/kind must be/);
    });
  });

  describe('in-process control', () => {
    it('refuses to create a user whose openid exists', () => {
      emulator.createUser({ openid: 'o-taken' });
      expect(() => emulator.createUser({ openid: 'o-taken' })).to.throw(/exists already/);
    });

    it('refuses malformed user fields', () => {
      expect(() => emulator.createUser({ openid: 'has space' })).to.throw(/openid must be/);
      expect(() => emulator.createUser({ phoneNumber: '+86 138' })).to.throw(/phoneNumber must be/);
      expect(() => emulator.sessionKeyOf('o-nobody')).to.throw(/No emulated user/);
      expect(() => emulator.phoneCode('o-nobody')).to.throw(/No emulated user/);
    });

    it('reset() forgets users, codes, tokens, faults and counts, but keeps its credentials', async () => {
      const appid = emulator.appid;
      const { code, openid } = emulator.login();
      const token = await accessToken();
      emulator.setFault({ api: '*', mode: 'busy' });
      emulator.reset();
      emulator.assertNoPendingFaults();
      expect(emulator.calls()).to.equal(0);
      expect(emulator.appid).to.equal(appid);
      expect(() => emulator.sessionKeyOf(openid)).to.throw(/No emulated user/);
      expectWechatError(await jscode2session(code), 40029, 'invalid code');
      expectWechatError(await phoneNumber(token, { code: 'x' }), 40014, 'invalid access_token');
    });
  });

  describe('unknown paths', () => {
    it('answers HTTP 404 with errcode -1 and a rid', async () => {
      const answer = await request('/cgi-bin/message/custom/send');
      expect(answer.status).to.equal(404);
      expect(answer.body.errcode).to.equal(-1);
      expect(String(answer.body.errmsg)).to.match(/, rid: [0-9a-f-]{26}$/);
    });
  });

  describe('control surface over HTTP', () => {
    it('POST /__emulator/users creates a user and answers its openid and unionid', async () => {
      const answer = await postJson('/__emulator/users', {
        openid: 'o-alice',
        unionid: true,
        phoneNumber: '13700137000',
      });
      expect(answer.status).to.equal(200);
      expect(answer.body).to.have.keys('openid', 'unionid');
      expect(answer.body.openid).to.equal('o-alice');
      const plain = await postJson('/__emulator/users', {});
      expect(plain.body).to.have.keys('openid');
      expect(plain.body.openid).to.match(OPENID);
    });

    it('POST /__emulator/users answers 409 for an openid that exists', async () => {
      await postJson('/__emulator/users', { openid: 'o-alice' });
      const answer = await postJson('/__emulator/users', { openid: 'o-alice' });
      expect(answer.status).to.equal(409);
      expect(answer.body.error).to.equal('conflict');
    });

    it('POST /__emulator/login with no body gives a code jscode2session accepts', async () => {
      const answer = await request('/__emulator/login', { method: 'POST' });
      expect(answer.status).to.equal(200);
      expect(answer.body).to.have.keys('code', 'openid');
      expect((await jscode2session(answer.body.code as string)).body.openid).to.equal(answer.body.openid);
    });

    it('POST /__emulator/login takes an openid and rotateSessionKey', async () => {
      const { openid } = emulator.login();
      const key = emulator.sessionKeyOf(openid);
      const answer = await postJson('/__emulator/login', { openid, rotateSessionKey: false });
      expect(answer.body.openid).to.equal(openid);
      expect(emulator.sessionKeyOf(openid)).to.equal(key);
    });

    it('accepts a JSON body sent with the form content type curl -d uses', async () => {
      const answer = await postJson('/__emulator/login', '{"openid":"o-curl"}', {
        'content-type': 'application/x-www-form-urlencoded',
      });
      expect(answer.body.openid).to.equal('o-curl');
    });

    it('POST /__emulator/phone-code gives a code getuserphonenumber accepts', async () => {
      const { openid } = emulator.createUser({ phoneNumber: '13600136000' });
      const answer = await postJson('/__emulator/phone-code', { openid });
      const phone = await phoneNumber(await accessToken(), { code: answer.body.code });
      expect(phone.body.phone_info).to.include({ purePhoneNumber: '13600136000' });
    });

    it('POST /__emulator/encrypt answers what the phone hands the page', async () => {
      const { openid } = emulator.createUser();
      const answer = await postJson('/__emulator/encrypt', { openid, kind: 'userInfo' });
      expect(answer.status).to.equal(200);
      expect(answer.body).to.have.keys('encryptedData', 'iv', 'rawData', 'signature');
      const data = decryptOpenData(
        emulator.sessionKeyOf(openid),
        answer.body as { encryptedData: string; iv: string },
      );
      expect(data.openId).to.equal(openid);
    });

    it('POST and DELETE /__emulator/faults arm and clear faults', async () => {
      const armed = await postJson('/__emulator/faults', { api: 'stable_token', mode: 'busy', times: 2 });
      expect(armed.status).to.equal(204);
      expect(armed.text).to.equal('');
      expect((await stableToken()).body.errcode).to.equal(-1);
      const cleared = await request('/__emulator/faults', { method: 'DELETE' });
      expect(cleared.status).to.equal(204);
      emulator.assertNoPendingFaults();
      expect((await stableToken()).body.access_token).to.be.a('string');
    });

    it('POST /__emulator/access-token/invalidate ends every access token', async () => {
      const token = await accessToken();
      expect((await request('/__emulator/access-token/invalidate', { method: 'POST' })).status).to.equal(204);
      expect((await phoneNumber(token, { code: 'x' })).body.errcode).to.equal(40001);
    });

    it('GET /__emulator/calls answers the count of every API', async () => {
      await jscode2session('x');
      await stableToken();
      await stableToken();
      const answer = await request('/__emulator/calls');
      expect(answer.body).to.deep.equal({
        jscode2session: 1,
        stable_token: 2,
        token: 0,
        getuserphonenumber: 0,
        checksession: 0,
        getwxacodeunlimit: 0,
      });
    });

    it('does not count its own routes as WeChat calls', async () => {
      await request('/__emulator/login', { method: 'POST' });
      await request('/__emulator/calls');
      expect(emulator.calls()).to.equal(0);
    });

    const badInput: Array<[string, string, string]> = [
      ['a body that is not JSON', '/__emulator/login', '{"openid":'],
      ['a JSON array', '/__emulator/users', '[]'],
      ['JSON null', '/__emulator/users', 'null'],
      ['an unknown field', '/__emulator/login', '{"openId":"o-x"}'],
      ['an openid of the wrong type', '/__emulator/login', '{"openid":42}'],
      ['an openid with a slash', '/__emulator/users', '{"openid":"../etc"}'],
      ['rotateSessionKey as a string', '/__emulator/login', '{"rotateSessionKey":"no"}'],
      ['a unionid of the wrong type', '/__emulator/users', '{"unionid":1}'],
      ['no openid for a phone code', '/__emulator/phone-code', '{}'],
      ['an unknown kind', '/__emulator/encrypt', '{"openid":"o-x","kind":"werun"}'],
      ['data that is not an object', '/__emulator/encrypt', '{"openid":"o-known","kind":"raw","data":"x"}'],
      ['a fault of an unknown mode', '/__emulator/faults', '{"api":"*","mode":"explode"}'],
      ['a slow fault of 10 hours', '/__emulator/faults', '{"api":"*","mode":"slow","delayMs":36000000}'],
      ['a body for invalidate', '/__emulator/access-token/invalidate', '{"all":true}'],
    ];
    for (const [name, path, body] of badInput) {
      it(`answers 400 invalid_request to ${name} (${path})`, async () => {
        emulator.createUser({ openid: 'o-known' });
        const answer = await postJson(path, body);
        expect(answer.status, answer.text).to.equal(400);
        expect(answer.contentType).to.match(/^application\/json/);
        expect(answer.body.error).to.equal('invalid_request');
        expect(answer.body.error_description).to.be.a('string').and.not.be.empty;
        emulator.assertNoPendingFaults();
      });
    }

    it('answers 404 to an unknown openid', async () => {
      for (const [path, body] of [
        ['/__emulator/phone-code', { openid: 'o-nobody' }],
        ['/__emulator/encrypt', { openid: 'o-nobody', kind: 'phone' }],
      ] as const) {
        const answer = await postJson(path, body);
        expect(answer.status, path).to.equal(404);
        expect(answer.body.error).to.equal('not_found');
      }
    });

    it('answers 413 to a body over 64 KiB and goes on serving', async () => {
      const answer = await postJson('/__emulator/users', { openid: 'o-big', pad: 'x'.repeat(70 * 1024) });
      expect(answer.status).to.equal(413);
      expect(answer.body.error).to.equal('invalid_request');
      expect((await request('/__emulator/login', { method: 'POST' })).status).to.equal(200);
    });

    it('cuts a connection that keeps sending far past the limit, and goes on serving', async () => {
      const outcome = await postJson('/__emulator/users', 'x'.repeat(4 * 1024 * 1024)).then(
        (answer) => answer.status,
        () => 'cut',
      );
      expect(outcome).to.be.oneOf(['cut', 413]);
      expect((await request('/__emulator/calls')).status).to.equal(200);
    });

    it('answers 404 to an unknown control route and 405 to a wrong method', async () => {
      const unknown = await request('/__emulator/nothing', { method: 'POST' });
      expect(unknown.status).to.equal(404);
      expect(unknown.body.error).to.equal('not_found');
      const wrong = await request('/__emulator/calls', { method: 'POST' });
      expect(wrong.status).to.equal(405);
      expect(wrong.body.error).to.equal('method_not_allowed');
    });
  });
});
