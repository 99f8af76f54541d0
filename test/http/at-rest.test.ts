import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { type Harness, startHarness } from '../helpers/harness.js';

describe('session_key encrypted at rest', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });
  const keys = (kid: string) => `${kid}:${randomBytes(32).toString('base64')}`;

  it('leaves no session_key and no refresh token in a dump of Redis', async () => {
    h = await startHarness({ env: { SESSION_KEY_ENCRYPTION_KEYS: keys('k1') } });
    const { code, openid } = h.emulator.login();
    const login = (await h.http.post('/auth/login').send({ code }).expect(200)).body;
    const rotated = (
      await h.http.post('/auth/refresh').send({ refresh_token: login.refresh_token }).expect(200)
    ).body;
    const client = h.redis!.client;
    const dump: Buffer[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${h.redis!.prefix}*`, 'COUNT', 100);
      cursor = next;
      for (const key of keys) dump.push(Buffer.from(key), (await client.dumpBuffer(key)) ?? Buffer.alloc(0));
    } while (cursor !== '0');
    const everything = Buffer.concat(dump);
    const sessionKey = h.emulator.sessionKeyOf(openid);
    const sealed = await client.hgetBuffer(`${h.redis!.prefix}{${openid}}:u`, 'k');
    expect(sealed).to.have.length(2 + 'k1'.length + 12 + 1 + 16 + 16);
    for (const secret of [
      Buffer.from(sessionKey),
      Buffer.from(sessionKey, 'base64'),
      Buffer.from(code),
      Buffer.from(login.refresh_token),
      Buffer.from(rotated.refresh_token),
    ]) {
      expect(everything.includes(secret), secret.toString()).to.equal(false);
    }
    // The service still reads what it sealed: the session_key opens open data.
    await h.http
      .post('/wechat/phone-number')
      .set('Authorization', `Bearer ${rotated.access_token}`)
      .send(h.emulator.encrypt(openid, 'phone'))
      .expect(200);
  });

  it('keeps the WeChat access_token sealed in Redis, and still renews it once WeChat rejects it', async () => {
    h = await startHarness({ env: { SESSION_KEY_ENCRYPTION_KEYS: keys('k1') } });
    const login = await h.login();
    const phone = () =>
      h.http
        .post('/wechat/phone-number')
        .set('Authorization', `Bearer ${login.access_token}`)
        .send({ code: h.emulator.phoneCode(login.openid) })
        .expect(200);
    await phone();
    const first = (await h.store.getWechatAccessToken(h.clock.now()))!.token;
    const key = `${h.redis!.prefix}wechat:at`;
    const stored = (await h.redis!.client.get(key))!;
    expect(stored).not.to.contain(first);
    expect(stored).to.match(/:v1\.k1\./);

    // Rejected: the sealed copy is dropped, one new token fetched, sealed in its turn, and used.
    h.emulator.invalidateAccessTokens();
    await phone();
    await phone();
    expect(h.emulator.calls('stable_token')).to.equal(2);
    const second = (await h.store.getWechatAccessToken(h.clock.now()))!.token;
    expect(second).not.to.equal(first);
    expect(await h.redis!.client.get(key)).not.to.contain(second);
  });

  it('still decrypts open data with the stored key, and after the key is rotated', async () => {
    const first = keys('k1');
    h = await startHarness({ env: { SESSION_KEY_ENCRYPTION_KEYS: first } });
    const login = await h.login();
    const phone = () =>
      h.http
        .post('/wechat/phone-number')
        .set('Authorization', `Bearer ${login.access_token}`)
        .send(h.emulator.encrypt(login.openid, 'phone'));
    await phone().expect(200);
    const rotatedApp = await startHarness({
      peer: h,
      env: { SESSION_KEY_ENCRYPTION_KEYS: `${keys('k2')},${first}` },
    });
    try {
      const res = await rotatedApp.http
        .post('/wechat/phone-number')
        .set('Authorization', `Bearer ${login.access_token}`)
        .send(h.emulator.encrypt(login.openid, 'phone'))
        .expect(200);
      expect(res.body).to.have.keys('phoneNumber', 'purePhoneNumber', 'countryCode');
    } finally {
      await rotatedApp.close();
    }
  });

  it('reads a session_key stored in clear before encryption was turned on', async () => {
    h = await startHarness();
    const login = await h.login();
    const encrypted = await startHarness({ peer: h, env: { SESSION_KEY_ENCRYPTION_KEYS: keys('k1') } });
    try {
      await encrypted.http
        .post('/wechat/phone-number')
        .set('Authorization', `Bearer ${login.access_token}`)
        .send(h.emulator.encrypt(login.openid, 'phone'))
        .expect(200);
    } finally {
      await encrypted.close();
    }
  });

  it('answers login_required when no configured key opens the stored session_key', async () => {
    h = await startHarness({ env: { SESSION_KEY_ENCRYPTION_KEYS: keys('k1') } });
    const login = await h.login();
    const lost = await startHarness({ peer: h, env: { SESSION_KEY_ENCRYPTION_KEYS: keys('k9') } });
    try {
      const res = await lost.http
        .post('/wechat/phone-number')
        .set('Authorization', `Bearer ${login.access_token}`)
        .send(h.emulator.encrypt(login.openid, 'phone'))
        .expect(401);
      expect(res.body.error).to.equal('login_required');
    } finally {
      await lost.close();
    }
  });
});
