import { expect } from 'chai';
import { type Harness, startHarness } from '../helpers/harness.js';

describe('POST /auth/login with the same code twice', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  it('gives both of two simultaneous logins with one code a session, asking WeChat once', async () => {
    h = await startHarness();
    const { code, openid } = h.emulator.login();
    const [a, b] = await Promise.all([1, 2].map(() => h.http.post('/auth/login').send({ code })));
    expect([a!.status, b!.status]).to.deep.equal([200, 200]);
    expect(a!.body.openid).to.equal(openid);
    expect(b!.body.openid).to.equal(openid);
    expect(a!.body.refresh_token).not.to.equal(b!.body.refresh_token);
    expect(h.emulator.calls('jscode2session')).to.equal(1);
    await h.http.post('/auth/refresh').send({ refresh_token: a!.body.refresh_token }).expect(200);
    await h.http.post('/auth/refresh').send({ refresh_token: b!.body.refresh_token }).expect(200);
  });

  it('gives a retry within the window a session of the same user', async () => {
    h = await startHarness();
    const { code, openid } = h.emulator.login();
    const first = await h.http.post('/auth/login').send({ code }).expect(200);
    const retry = await h.http.post('/auth/login').send({ code }).expect(200);
    expect(first.body).to.include({ openid, is_new_user: true });
    expect(retry.body).to.include({ openid, is_new_user: false });
    expect(h.emulator.calls('jscode2session')).to.equal(1);
  });

  it('shares the first exchange between two instances of the service', async () => {
    h = await startHarness();
    const peer = await startHarness({ peer: h });
    try {
      const { code } = h.emulator.login();
      const [a, b] = await Promise.all([
        h.http.post('/auth/login').send({ code }),
        peer.http.post('/auth/login').send({ code }),
      ]);
      expect([a.status, b.status]).to.deep.equal([200, 200]);
      expect(a.body.openid).to.equal(b.body.openid);
      expect(h.emulator.calls('jscode2session')).to.equal(1);
    } finally {
      await peer.close();
    }
  });

  it('answers WeChat again once the window has passed', async function () {
    this.timeout(5000);
    h = await startHarness({ env: { LOGIN_RETRY_WINDOW: '1' } });
    const { code } = h.emulator.login();
    await h.http.post('/auth/login').send({ code }).expect(200);
    await new Promise((r) => setTimeout(r, 1100));
    const late = await h.http.post('/auth/login').send({ code }).expect(400);
    expect(late.body).to.include({ error: 'invalid_grant', wechat_errcode: 40163 });
  });

  it('does not share a failed exchange: the retry asks WeChat and gets its own answer', async () => {
    h = await startHarness();
    const { code } = h.emulator.login();
    h.emulator.setFault({ api: 'jscode2session', mode: 'busy' });
    await h.http.post('/auth/login').send({ code }).expect(502);
    await h.http.post('/auth/login').send({ code }).expect(200);
    expect(h.emulator.calls('jscode2session')).to.equal(2);
  });

  it('keeps neither the code nor the session_key in clear in Redis', async () => {
    h = await startHarness();
    const { code, openid } = h.emulator.login();
    await h.http.post('/auth/login').send({ code }).expect(200);
    const client = h.redis!.client;
    const keys = await client.keys(`${h.redis!.prefix}code:*`);
    expect(keys).to.have.length(1);
    const value = (await client.get(keys[0]!))!;
    const ttl = await client.pttl(keys[0]!);
    expect(ttl).to.be.within(1, 60_000);
    for (const secret of [code, h.emulator.sessionKeyOf(openid)]) {
      expect(keys[0]).not.to.contain(secret);
      expect(value).not.to.contain(secret);
    }
  });
});
