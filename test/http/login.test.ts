import { expect } from 'chai';
import { type Harness, harnessForEachTest } from '../helpers/harness.js';

describe('POST /auth/login', () => {
  let h: Harness;
  harnessForEachTest({ env: { WECHAT_TIMEOUT_MS: '400' } }, (made) => {
    h = made;
  });

  /** Keys of the store but locks (the start-up pass after an upgrade leaves its mark among them). */
  async function userKeyCount(): Promise<number> {
    const keys = await h.redis!.client.keys(`${h.redis!.prefix}*`);
    return keys.filter((key) => !key.startsWith(`${h.redis!.prefix}lock:`)).length;
  }

  it('exchanges a wx.login code for a token response and says the user is new', async () => {
    const { code, openid } = h.emulator.login();
    const res = await h.http.post('/auth/login').send({ code }).expect(200);
    expect(res.headers['cache-control']).to.equal('no-store');
    expect(res.body).to.include({ token_type: 'Bearer', expires_in: 900, openid, is_new_user: true });
    expect(res.body.refresh_token).to.match(/^[A-Za-z0-9_-]{60,}$/);
    expect(res.body.refresh_expires_in).to.equal(2592000);
    expect(Object.keys(res.body).sort()).to.deep.equal([
      'access_token',
      'expires_in',
      'is_new_user',
      'openid',
      'refresh_expires_in',
      'refresh_token',
      'token_type',
    ]);
    expect(JSON.stringify(res.body)).not.to.contain(h.emulator.sessionKeyOf(openid));
  });

  it('says is_new_user false on the second login and keeps the newest session_key', async () => {
    const first = await h.login();
    const second = await h.login(first.openid);
    expect(second.is_new_user).to.equal(false);
    const user = await h.store.getUser(first.openid);
    expect(user?.sessionKey).to.equal(h.emulator.sessionKeyOf(first.openid));
    expect(user!.lastLoginAtMs).to.be.at.least(user!.firstLoginAtMs);
  });

  it('returns the unionid when WeChat gives one', async () => {
    const user = h.emulator.createUser({ unionid: true });
    const res = await h.login(user.openid);
    expect(res.unionid).to.equal(user.unionid).and.to.be.a('string');
  });

  it('accepts a form-encoded code', async () => {
    const { code } = h.emulator.login();
    const res = await h.http
      .post('/auth/login')
      .type('form')
      .send(`code=${encodeURIComponent(code)}`)
      .expect(200);
    expect(res.body.access_token).to.be.a('string');
  });

  const malformed: Array<
    [string, (r: ReturnType<Harness['http']['post']>) => ReturnType<Harness['http']['post']>]
  > = [
    ['no body', (r) => r],
    ['an empty JSON object', (r) => r.send({})],
    ['an empty code', (r) => r.send({ code: '' })],
    ['a code of 129 characters', (r) => r.send({ code: 'a'.repeat(129) })],
    ['a code with a space', (r) => r.send({ code: 'abc def' })],
    ['a code with a control character', (r) => r.send({ code: 'abc\u0000def' })],
    ['a non-ASCII code', (r) => r.send({ code: 'código' })],
    ['a numeric code', (r) => r.send({ code: 12345 })],
    ['a code that is an array', (r) => r.send({ code: ['a', 'b'] })],
    ['a code that is an object', (r) => r.send({ code: { $gt: '' } })],
    ['null', (r) => r.type('json').send('null')],
    ['a JSON array', (r) => r.send([{ code: 'abc' }])],
    ['a JSON string', (r) => r.type('json').send('"abc"')],
    ['broken JSON', (r) => r.type('json').send('{"code": ')],
    ['text/plain', (r) => r.type('text/plain').send('code=abc')],
    ['multipart-like content', (r) => r.type('multipart/form-data; boundary=x').send('--x--')],
    ['a form with the code twice', (r) => r.type('form').send('code=a&code=b')],
    ['a form with a nested code', (r) => r.type('form').send('code[a]=b')],
  ];
  for (const [name, build] of malformed) {
    it(`answers 400 invalid_request to ${name}, without calling WeChat`, async () => {
      const res = await build(h.http.post('/auth/login'));
      expect(res.status, JSON.stringify(res.body)).to.equal(400);
      expect(res.body.error).to.equal('invalid_request');
      expect(res.body.error_description).to.be.a('string').and.not.be.empty;
      expect(h.emulator.calls('jscode2session')).to.equal(0);
    });
  }

  it('answers 413 invalid_request to a body over the limit', async () => {
    const res = await h.http.post('/auth/login').send({ code: 'a', pad: 'x'.repeat(200_000) });
    expect(res.status).to.equal(413);
    expect(res.body.error).to.equal('invalid_request');
    expect(h.emulator.calls('jscode2session')).to.equal(0);
  });

  it('answers invalid_grant to a code WeChat does not know (40029) and stores nothing', async () => {
    const res = await h.http.post('/auth/login').send({ code: 'no-such-code' }).expect(400);
    expect(res.body).to.include({ error: 'invalid_grant', wechat_errcode: 40029 });
    expect(await userKeyCount()).to.equal(0);
  });

  it('answers invalid_grant to a code that WeChat already exchanged for someone else (40163)', async () => {
    const { code } = h.emulator.login();
    const direct = new URL('/sns/jscode2session', h.emulator.url);
    direct.search = new URLSearchParams({
      appid: h.emulator.appid,
      secret: h.emulator.secret,
      js_code: code,
      grant_type: 'authorization_code',
    }).toString();
    await fetch(direct);
    const res = await h.http.post('/auth/login').send({ code }).expect(400);
    expect(res.body).to.include({ error: 'invalid_grant', wechat_errcode: 40163 });
  });

  it('answers invalid_grant to a code older than five minutes', async () => {
    const { code } = h.emulator.login();
    h.clock.advance(5 * 60_000 + 1000);
    const res = await h.http.post('/auth/login').send({ code }).expect(400);
    expect(res.body.error).to.equal('invalid_grant');
  });

  const wechatFaults: Array<[string, Parameters<Harness['emulator']['setFault']>[0], number, string]> = [
    [
      'WeChat rate-limits the user (45011)',
      { api: 'jscode2session', mode: 'errcode', errcode: 45011, errmsg: 'api minute-quota reach limit' },
      429,
      'rate_limited',
    ],
    [
      "WeChat's risk control refuses the user (40226)",
      { api: 'jscode2session', mode: 'errcode', errcode: 40226, errmsg: 'high risk user' },
      403,
      'access_denied',
    ],
    ['WeChat is busy (-1)', { api: 'jscode2session', mode: 'busy' }, 502, 'upstream_unavailable'],
    ['WeChat answers HTTP 500', { api: 'jscode2session', mode: 'http500' }, 502, 'upstream_unavailable'],
    ['WeChat answers garbage', { api: 'jscode2session', mode: 'garbage' }, 502, 'upstream_unavailable'],
    ['WeChat drops the connection', { api: 'jscode2session', mode: 'drop' }, 502, 'upstream_unavailable'],
    [
      'WeChat does not answer in time',
      { api: 'jscode2session', mode: 'slow', delayMs: 5000 },
      504,
      'upstream_unavailable',
    ],
  ];
  for (const [name, fault, status, error] of wechatFaults) {
    it(`answers ${status} ${error} when ${name}, and stores nothing`, async () => {
      const { code } = h.emulator.login();
      h.emulator.setFault(fault);
      const res = await h.http.post('/auth/login').send({ code });
      expect(res.status).to.equal(status);
      expect(res.body.error).to.equal(error);
      if (status === 429) expect(res.headers['retry-after']).to.match(/^\d+$/);
      expect(h.emulator.calls('jscode2session')).to.equal(1);
      expect(await userKeyCount()).to.equal(0);
      h.emulator.assertNoPendingFaults();
    });
  }

  it('answers 502 when WeChat cannot be reached at all', async () => {
    const { code } = h.emulator.login();
    await h.emulator.close();
    const res = await h.http.post('/auth/login').send({ code });
    expect(res.status).to.equal(502);
    expect(res.body.error).to.equal('upstream_unavailable');
  });

  it('logs a wrong AppSecret (40125) loudly as a configuration fault', async () => {
    const { code } = h.emulator.login();
    h.emulator.setFault({
      api: 'jscode2session',
      mode: 'errcode',
      errcode: 40125,
      errmsg: 'invalid appsecret',
    });
    const res = await h.http.post('/auth/login').send({ code }).expect(502);
    expect(res.body.error).to.equal('upstream_unavailable');
    const line = h.logs.map((l) => JSON.parse(l)).find((l) => l.event === 'wechat_config_fault');
    expect(line).to.include({ level: 50, errcode: 40125 });
    expect(line.msg).to.contain('WECHAT_SECRET');
  });

  it("logs WeChat's errmsg and rid on a failure, and never the AppSecret or the code", async () => {
    const { code } = h.emulator.login();
    await h.http.post('/auth/login').send({ code: 'no-such-code' }).expect(400);
    const line = h.logs.map((l) => JSON.parse(l)).find((l) => l.event === 'wechat_failure');
    expect(line).to.include({ errcode: 40029 });
    expect(line.errmsg).to.contain('rid:');
    expect(line.rid).to.be.a('string');
    const all = h.logs.join('\n');
    expect(all).not.to.contain(h.emulator.secret);
    expect(all).not.to.contain('no-such-code');
    expect(all).not.to.contain(code);
  });
});
