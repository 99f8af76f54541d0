import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { decodeJwt } from 'jose';
import { appKeys } from '../../src/store/index.js';
import { type Harness, type LoginResult, startHarness } from '../helpers/harness.js';
import { type RedisServer, startRedisServer } from '../setup/hooks.js';
import { until } from '../setup/redis.js';

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const sidOf = (login: LoginResult) => decodeJwt(login.access_token).sid as string;

function loginWith(h: Harness, body: Record<string, unknown>, openid?: string) {
  return h.http.post('/auth/login').send({ code: h.emulator.login(openid).code, ...body });
}

/** Every key under the harness's prefix that names the openid. */
async function keysOf(h: Harness, openid: string): Promise<string[]> {
  const redis = h.redis!.client;
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${h.redis!.prefix}*`, 'COUNT', 1000);
    found.push(...batch.filter((key) => key.includes(openid)));
    cursor = next;
  } while (cursor !== '0');
  return found.sort();
}

describe('GET /auth/sessions, DELETE /auth/sessions/{id}, DELETE /auth/account', () => {
  let h: Harness;

  before(async () => {
    h = await startHarness({
      env: { RATE_LIMIT_REFRESH_PER_USER: '30/60', RATE_LIMIT_WECHAT_PER_USER: '30/60' },
    });
  });

  after(async () => {
    await h?.close();
  });

  it("lists the caller's sessions newest first, with the device each login gave, the current one marked", async () => {
    const phone = (await loginWith(h, { device: 'iPhone 15 Pro; iOS 17.4; WeChat 8.0.47' }).expect(200))
      .body as LoginResult;
    h.clock.advance(2000);
    const tablet = (await loginWith(h, {}, phone.openid).expect(200)).body as LoginResult;
    h.clock.advance(2000);
    await h.http.post('/auth/refresh').send({ refresh_token: phone.refresh_token }).expect(200);
    await loginWith(h, {}).expect(200); // someone else's

    const res = await h.http.get('/auth/sessions').set(bearer(tablet.access_token)).expect(200);
    expect(res.headers['cache-control']).to.equal('no-store');
    const now = Math.floor(h.clock.now() / 1000);
    const app = { appid: h.emulator.appid, name: h.emulator.appid, kind: 'miniprogram' };
    expect(res.body).to.deep.equal({
      sessions: [
        {
          id: sidOf(tablet),
          created_at: now - 2,
          refreshed_at: now - 2,
          expires_at: now - 2 + h.config.tokens.refreshTtlS,
          device: null,
          app,
          current: true,
        },
        {
          id: sidOf(phone),
          created_at: now - 4,
          refreshed_at: now,
          expires_at: now + h.config.tokens.refreshTtlS,
          device: 'iPhone 15 Pro; iOS 17.4; WeChat 8.0.47',
          app,
          current: false,
        },
      ],
    });
  });

  it('takes a device of up to 64 printable characters of any script, also form-encoded', async () => {
    const device = '华'.repeat(64);
    const login = (await loginWith(h, { device }).expect(200)).body as LoginResult;
    const listed = await h.http.get('/auth/sessions').set(bearer(login.access_token)).expect(200);
    expect(listed.body.sessions[0].device).to.equal(device);
    const form = await h.http
      .post('/auth/login')
      .type('form')
      .send({ code: h.emulator.login().code, device: 'Xiaomi 14; Android 14' })
      .expect(200);
    const formListed = await h.http.get('/auth/sessions').set(bearer(form.body.access_token)).expect(200);
    expect(formListed.body.sessions[0].device).to.equal('Xiaomi 14; Android 14');
  });

  const badDevices: Array<[string, unknown]> = [
    ['longer than 64 characters', 'x'.repeat(65)],
    ['a control character', 'iPhone\n15'],
    ['a number', 15],
    ['a zero-width format character', 'iPhone\u200b15'],
  ];
  for (const [what, device] of badDevices) {
    it(`answers 400 invalid_request to a device with ${what}`, async () => {
      const res = await loginWith(h, { device }).expect(400);
      expect(res.body.error).to.equal('invalid_request');
      expect(res.body.error_description).to.match(/^device: /);
    });
  }

  it("ends one session by its id: its token refused at once, the caller's others live", async () => {
    const first = await h.login();
    const second = await h.login(first.openid);
    await h.http
      .delete(`/auth/sessions/${sidOf(first)}`)
      .set(bearer(second.access_token))
      .expect(204);
    await h.http.get('/auth/me').set(bearer(first.access_token)).expect(401);
    await h.http.post('/auth/refresh').send({ refresh_token: first.refresh_token }).expect(400);
    await h.http.get('/auth/me').set(bearer(second.access_token)).expect(200);
    const listed = await h.http.get('/auth/sessions').set(bearer(second.access_token)).expect(200);
    expect(listed.body.sessions.map((s: { id: string }) => s.id)).to.deep.equal([sidOf(second)]);
  });

  it("answers 204 and ends nothing for an id that is unknown, ended, malformed or another user's", async () => {
    const mine = await h.login();
    const theirs = await h.login();
    for (const id of ['AAAAAAAAAAAAAAAAAAAAAA', sidOf(theirs), 'not an id', 'x'.repeat(300), '%7B%7D']) {
      await h.http.delete(`/auth/sessions/${id}`).set(bearer(mine.access_token)).expect(204);
    }
    await h.http.get('/auth/me').set(bearer(theirs.access_token)).expect(200);
    await h.http.post('/auth/refresh').send({ refresh_token: theirs.refresh_token }).expect(200);
  });

  it('ends the session of the token itself too, when the caller names it', async () => {
    const login = await h.login();
    await h.http
      .delete(`/auth/sessions/${sidOf(login)}`)
      .set(bearer(login.access_token))
      .expect(204);
    await h.http.get('/auth/me').set(bearer(login.access_token)).expect(401);
  });

  it('deletes the account: every key of the user gone (counters too), its tokens refused, a later login new', async () => {
    const first = await h.login();
    const second = await h.login(first.openid);
    await h.http.post('/auth/refresh').send({ refresh_token: second.refresh_token }).expect(200);
    await h.http.get('/wechat/session').set(bearer(first.access_token));
    const before = await keysOf(h, first.openid);
    for (const kind of [':u', ':s', 'rl:refresh_user:', 'rl:wechat_user:']) {
      expect(
        before.some((key) => key.includes(kind)),
        kind,
      ).to.equal(true);
    }

    await h.http.delete('/auth/account').set(bearer(first.access_token)).expect(204);
    expect(await keysOf(h, first.openid)).to.deep.equal([]);
    expect(await h.store.getUser(first.openid)).to.equal(null);
    await h.http.get('/auth/me').set(bearer(first.access_token)).expect(401);
    await h.http.get('/auth/me').set(bearer(second.access_token)).expect(401);
    await h.http.post('/auth/refresh').send({ refresh_token: second.refresh_token }).expect(400);
    const again = await h.login(first.openid);
    expect(again.is_new_user).to.equal(true);
  });

  it('requires a Bearer token on each route', async () => {
    for (const res of [
      await h.http.get('/auth/sessions'),
      await h.http.delete('/auth/sessions/AAAAAAAAAAAAAAAA'),
      await h.http.delete('/auth/account'),
    ]) {
      expect(res.status).to.equal(401);
      expect(res.headers['www-authenticate']).to.equal('Bearer realm="wxauth"');
    }
  });
});

describe('what an ending writes, and how often one user may end sessions', () => {
  let h: Harness;

  before(async () => {
    h = await startHarness({ env: { RATE_LIMIT_ENDINGS_PER_USER: '5/60' } });
  });

  after(async () => {
    await h?.close();
  });

  /** How many ZADDs Redis has run (in scripts too): the revocation log's writes among them. */
  async function zadds(): Promise<number> {
    const stats = await h.redis!.client.info('commandstats');
    return Number(/^cmdstat_zadd:calls=(\d+)/m.exec(stats)?.[1] ?? 0);
  }

  it('writes nothing for an ending that ends nothing, however recently the user ended a session', async () => {
    const first = await h.login();
    const second = await h.login(first.openid);
    await h.http
      .delete(`/auth/sessions/${sidOf(first)}`)
      .set(bearer(second.access_token))
      .expect(204);
    const log = appKeys(h.redis!.prefix).revocationLog;
    const logged = () => h.redis!.client.zrange(log, 0, -1, 'WITHSCORES');
    const before = { log: await logged(), zadds: await zadds() };
    expect(before.log).to.include(sidOf(first));
    for (let i = 0; i < 4; i += 1) {
      const unknown = randomBytes(12).toString('base64url');
      await h.http.delete(`/auth/sessions/${unknown}`).set(bearer(second.access_token)).expect(204);
    }
    expect(await logged(), 'the log, scores and all').to.deep.equal(before.log);
    expect((await zadds()) - before.zadds, 'ZADDs').to.equal(0);
  });

  it('answers 429 rate_limited with Retry-After past RATE_LIMIT_ENDINGS_PER_USER, on all three ending routes', async () => {
    const user = await h.login();
    const other = await h.login();
    for (let i = 0; i < 5; i += 1) {
      const unknown = randomBytes(12).toString('base64url');
      await h.http.delete(`/auth/sessions/${unknown}`).set(bearer(user.access_token)).expect(204);
    }
    for (const res of [
      await h.http.delete(`/auth/sessions/${sidOf(user)}`).set(bearer(user.access_token)),
      await h.http.post('/auth/logout').set(bearer(user.access_token)).send({ all: true }),
      await h.http.delete('/auth/account').set(bearer(user.access_token)),
    ]) {
      expect(res.status, JSON.stringify(res.body)).to.equal(429);
      expect(res.body.error).to.equal('rate_limited');
      expect(Number(res.headers['retry-after'])).to.be.within(1, 60);
    }
    // Refused before anything ended; another user's allowance is their own.
    await h.http.get('/auth/me').set(bearer(user.access_token)).expect(200);
    await h.http.post('/auth/refresh').send({ refresh_token: user.refresh_token }).expect(200);
    await h.http.post('/auth/logout').set(bearer(other.access_token)).send({ all: true }).expect(204);
  });

  it("leaves the user's own session its allowance when a session in someone else's hands used up its own", async () => {
    const own = await h.login();
    const stolen = await h.login(own.openid);
    for (let i = 0; i < 5; i += 1) {
      const unknown = randomBytes(12).toString('base64url');
      await h.http.delete(`/auth/sessions/${unknown}`).set(bearer(stolen.access_token)).expect(204);
    }
    await h.http.post('/auth/logout').set(bearer(stolen.access_token)).send({ all: true }).expect(429);
    // The remedy still works from the user's own session, and ends the stolen one too.
    await h.http.post('/auth/logout').set(bearer(own.access_token)).send({ all: true }).expect(204);
    await h.http.get('/auth/me').set(bearer(stolen.access_token)).expect(401);
    await h.http.post('/auth/refresh').send({ refresh_token: stolen.refresh_token }).expect(400);
  });
});

describe('endings while the store does not answer', function () {
  this.timeout(20_000);
  let server: RedisServer;
  let h: Harness;

  before(async () => {
    server = await startRedisServer();
    h = await startHarness({ redisServer: server });
  });

  after(async () => {
    await h?.close();
    await server?.stop();
  });

  const ready = () =>
    until('the store to answer again', 5000, async () => (await h.http.get('/readyz')).status === 200);

  for (const [what, end] of [
    ['a session ended by id', (login: LoginResult) => h.http.delete(`/auth/sessions/${sidOf(login)}`)],
    ['an account deleted', () => h.http.delete('/auth/account')],
    ['a logout everywhere', () => h.http.post('/auth/logout').send({ all: true })],
  ] as const) {
    it(`answers 503 to ${what}, ends nothing meanwhile or after, and a retry ends it`, async () => {
      const login = await h.login();
      await server.freeze();
      try {
        const res = await end(login).set(bearer(login.access_token));
        expect(res.status).to.equal(503);
        expect(res.body.error).to.equal('temporarily_unavailable');
        expect(res.headers['retry-after']).to.equal('1');
        // Well past the deadline the script carries, by Redis's clock too.
        await new Promise((resolve) => setTimeout(resolve, 1000));
      } finally {
        await server.thaw();
      }
      await ready();
      // What Redis ran after the 503 did nothing: the session lives, its token is still good.
      await h.http.get('/auth/me').set(bearer(login.access_token)).expect(200);
      const listed = await h.http.get('/auth/sessions').set(bearer(login.access_token)).expect(200);
      expect(listed.body.sessions.map((s: { id: string }) => s.id)).to.include(sidOf(login));

      await end(login).set(bearer(login.access_token)).expect(204);
      await h.http.get('/auth/me').set(bearer(login.access_token)).expect(401);
      await h.http.post('/auth/refresh').send({ refresh_token: login.refresh_token }).expect(400);
    });
  }
});
