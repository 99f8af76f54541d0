import { expect } from 'chai';
import { decodeJwt } from 'jose';
import { appKeys } from '../../src/store/index.js';
import { type Harness, type LoginResult, startHarness } from '../helpers/harness.js';
import { relay } from '../helpers/relay.js';
import { freshPrefix, type RedisServer, startRedisServer } from '../setup/hooks.js';
import { until } from '../setup/redis.js';

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const me = (h: Harness, token: string) => h.http.get('/auth/me').set(bearer(token));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Asks until `h` refuses the token (401); answers how long that took, ms. Fails after `ms`. */
async function refusedWithin(h: Harness, token: string, ms: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    const res = await me(h, token);
    if (res.status === 401) {
      expect(res.body.error).to.equal('invalid_token');
      return performance.now() - started;
    }
    expect(res.status).to.equal(200);
    if (performance.now() - started > ms) throw new Error(`still accepted after ${ms} ms`);
    await sleep(5);
  }
}

describe('immediate revocation, two instances on one Redis', () => {
  let a: Harness;
  let b: Harness;

  before(async () => {
    a = await startHarness();
    b = await startHarness({ peer: a });
  });

  after(async () => {
    await b?.close();
    await a?.close();
  });

  /** A login on `a` whose token both instances have verified (and cached). */
  async function cachedEverywhere(openid?: string): Promise<LoginResult> {
    const login = await a.login(openid);
    await me(a, login.access_token).expect(200);
    await me(b, login.access_token).expect(200);
    return login;
  }

  it("refuses a logged-out session's access token on the other instance within a second, and at once on its own", async () => {
    const login = await cachedEverywhere();
    await a.http
      .post('/auth/logout')
      .set(bearer(login.access_token))
      .send({ refresh_token: login.refresh_token })
      .expect(204);
    await me(a, login.access_token).expect(401);
    expect(await refusedWithin(b, login.access_token, 1000)).to.be.below(1000);
  });

  it("keeps the user's other sessions valid when one ends, and refuses all of them after logout all", async () => {
    const first = await cachedEverywhere();
    const second = await cachedEverywhere(first.openid);
    const stranger = await cachedEverywhere();
    await b.http
      .delete(`/auth/sessions/${decodeJwt(first.access_token).sid}`)
      .set(bearer(second.access_token))
      .expect(204);
    await refusedWithin(a, first.access_token, 1000);
    await me(a, second.access_token).expect(200);
    await me(b, second.access_token).expect(200);

    const third = await cachedEverywhere(first.openid);
    await b.http.post('/auth/logout').set(bearer(third.access_token)).send({ all: true }).expect(204);
    for (const token of [second.access_token, third.access_token]) {
      await me(b, token).expect(401);
      await refusedWithin(a, token, 1000);
    }
    await me(a, stranger.access_token).expect(200);
    await me(b, stranger.access_token).expect(200);
  });

  it('refuses on /auth/verify and every other Bearer route as well', async () => {
    const login = await cachedEverywhere();
    await b.http.get('/auth/verify').set(bearer(login.access_token)).expect(200);
    await a.http.delete('/auth/account').set(bearer(login.access_token)).expect(204);
    await refusedWithin(b, login.access_token, 1000);
    for (const h of [a, b]) {
      const res = await h.http.get('/auth/verify').set(bearer(login.access_token)).expect(401);
      expect(res.headers['www-authenticate']).to.match(/error="invalid_token"/);
      await h.http.get('/auth/sessions').set(bearer(login.access_token)).expect(401);
      await h.http.get('/wechat/session').set(bearer(login.access_token)).expect(401);
    }
  });

  it('refuses the token of a session the cap ended, and of a family a reused refresh token revoked', async () => {
    const capped = await startHarness({ peer: a, env: { MAX_SESSIONS_PER_USER: '1' } });
    try {
      const first = await capped.login();
      await me(b, first.access_token).expect(200);
      await capped.login(first.openid);
      await refusedWithin(b, first.access_token, 1000);
    } finally {
      await capped.close();
    }

    const stolen = await cachedEverywhere();
    await a.http.post('/auth/refresh').send({ refresh_token: stolen.refresh_token }).expect(200);
    a.clock.advance(11_000); // past REFRESH_REUSE_GRACE
    await a.http.post('/auth/refresh').send({ refresh_token: stolen.refresh_token }).expect(400);
    await refusedWithin(b, stolen.access_token, 1000);
  });

  it('makes no Redis round trip during a burst of /auth/me, for live and revoked tokens alike', async () => {
    const live = await cachedEverywhere();
    const revoked = await cachedEverywhere();
    await a.http.delete('/auth/account').set(bearer(revoked.access_token)).expect(204);
    await refusedWithin(b, revoked.access_token, 1000);
    const server = a.redis!.server;
    const before = await server.commandCount();
    for (let i = 0; i < 100; i += 1) {
      await Promise.all([
        me(b, live.access_token).expect(200),
        me(a, live.access_token).expect(200),
        me(b, revoked.access_token).expect(401),
      ]);
    }
    expect((await server.commandCount()) - before).to.equal(0);
  });

  it('refuses, on an instance started after it, a token whose session had ended before', async () => {
    const login = await cachedEverywhere();
    await a.http.post('/auth/logout').set(bearer(login.access_token)).send({ all: true }).expect(204);
    const late = await startHarness({ peer: a });
    try {
      await me(late, login.access_token).expect(401);
      expect(late.logs.join('')).to.match(/"event":"revocation_blind"/);
    } finally {
      await late.close();
    }
  });

  it('counts revocations by cause in /metrics', async () => {
    const login = await a.login();
    await a.http
      .post('/auth/logout')
      .set(bearer(login.access_token))
      .send({ refresh_token: login.refresh_token })
      .expect(204);
    const text = (await a.http.get('/metrics').expect(200)).text;
    expect(text).to.match(/^wxauth_revocations_total\{cause="logout"\} [1-9]/m);
    expect(text).to.match(/^wxauth_revocations_total\{cause="account_deleted"\} [1-9]/m);
    expect(text).to.match(/^wxauth_revocation_blind_seconds_count [1-9]/m);
  });
});

describe('immediate revocation across a Redis restart', () => {
  let server: RedisServer;
  let a: Harness;
  let b: Harness;

  before(async () => {
    server = await startRedisServer();
    a = await startHarness({ redisServer: server });
    b = await startHarness({ peer: a });
  });

  after(async () => {
    await b?.close();
    await a?.close();
    await server?.stop();
  });

  it('says how long it was blind, and refuses what was revoked while it caught up', async () => {
    // Caught up once since it started (it says so at info level), so that what follows is a reconnection.
    for (const deadline = Date.now() + 3000; !b.logs.join('').includes('revocation_blind'); ) {
      if (Date.now() > deadline) throw new Error('never caught up');
      await sleep(20);
    }
    await server.restart();
    // The restarted Redis is empty: log in anew once it answers.
    let login: LoginResult | undefined;
    for (const deadline = Date.now() + 5000; login === undefined; ) {
      const res = await a.http.post('/auth/login').send({ code: a.emulator.login().code });
      if (res.status === 200) login = res.body as LoginResult;
      else if (Date.now() > deadline) throw new Error(`login answered ${res.status}`);
      else await sleep(50);
    }
    await me(b, login.access_token).expect(200);
    await a.http.post('/auth/logout').set(bearer(login.access_token)).send({ all: true }).expect(204);
    await refusedWithin(b, login.access_token, 3000);
    const blind = () =>
      b.logs
        .map((line) => JSON.parse(line) as { event?: string; ms?: number; level: number })
        .filter((line) => line.event === 'revocation_blind' && line.level === 40);
    // Its catch-up read goes through the store's own connection, which may come back after the
    // subscription does.
    for (const deadline = Date.now() + 3000; blind().length === 0 && Date.now() < deadline; ) await sleep(20);
    expect(blind(), 'a warning that says for how long').to.have.length.of.at.least(1);
    expect(blind()[0]!.ms).to.be.above(0);
  });
});

describe('an instance that has not yet read the revocation log', function () {
  this.timeout(30_000);
  let a: Harness;
  const others: Harness[] = [];

  before(async () => {
    a = await startHarness();
  });

  afterEach(async () => {
    for (const h of others.splice(0)) await h.close();
  });

  after(async () => {
    await a?.close();
  });

  async function expectUnavailable(res: { status: number; body: { error?: string }; headers: object }) {
    expect(res.status, JSON.stringify(res.body)).to.equal(503);
    expect(res.body.error).to.equal('temporarily_unavailable');
    expect((res.headers as Record<string, string>)['retry-after']).to.match(/^\d+$/);
  }

  it('answers 503 on Bearer routes and /readyz while started without Redis, warns and counts it, then refuses what ended meanwhile', async () => {
    const via = await relay(a.redis!.server.port, { cut: true });
    try {
      const ended = await a.login();
      const live = await a.login();
      const b = await startHarness({ peer: a, redisServer: { ...a.redis!.server, url: via.url } });
      others.push(b);
      for (const token of [ended.access_token, live.access_token]) {
        await expectUnavailable(await me(b, token));
        await expectUnavailable(await b.http.get('/auth/verify').set(bearer(token)));
        await expectUnavailable(await b.http.get('/auth/sessions').set(bearer(token)));
      }
      await expectUnavailable(await b.http.get('/readyz'));
      // Said and counted, although no read of the log was even tried: it cannot subscribe.
      await until('the warning', 5000, async () => b.logs.join('').includes('revocation_catch_up_failed'));
      const metrics = await b.metrics.registry.metrics();
      expect(Number(/^wxauth_revocation_catchup_failures_total (\d+)/m.exec(metrics)?.[1])).to.be.above(0);
      await a.http.post('/auth/logout').set(bearer(ended.access_token)).send({ all: true }).expect(204);
      // Asked again from memory, through the lane too: still not answered from an empty memory.
      await expectUnavailable(await me(b, live.access_token));

      via.mend();
      await until('/readyz 200', 10_000, async () => (await b.http.get('/readyz')).status === 200);
      await me(b, ended.access_token).expect(401);
      await b.http.get('/auth/verify').set(bearer(ended.access_token)).expect(401);
      await me(b, live.access_token).expect(200);
      await b.http.get('/auth/verify').set(bearer(live.access_token)).expect(200);
    } finally {
      via.close();
    }
  });

  it('reads a large log in pages, each within the command timeout, and refuses a session ended in the middle of it', async function () {
    this.timeout(60_000);
    const ended = await a.login();
    const live = await a.login();
    await a.http.post('/auth/logout').set(bearer(ended.access_token)).send({ all: true }).expect(204);
    const redis = a.redis!.client;
    const log = appKeys(a.redis!.prefix).revocationLog;
    // 200,000 endings of the last 200 s, the one that matters among them: one read of them all takes
    // far longer than the 100 ms the late instance gives a command.
    const entries = 200_000;
    const [seconds] = await redis.time();
    const newest = Number(seconds) * 1000;
    for (let start = 0; start < entries; start += 10_000) {
      const batch = redis.pipeline();
      for (let i = start; i < start + 10_000; i += 1)
        batch.zadd(log, newest - entries + i, `filler${String(i).padStart(10, '0')}`);
      await batch.exec();
    }
    await redis.zadd(log, newest - entries / 2, decodeJwt(ended.access_token).sid as string);

    const late = await startHarness({ peer: a, env: { REDIS_COMMAND_TIMEOUT_MS: '100' } });
    others.push(late);
    try {
      const answers = new Set<number>();
      await until('the ended session refused', 20_000, async () => {
        const status = (await me(late, ended.access_token)).status;
        answers.add(status);
        return status === 401;
      });
      expect(
        [...answers].filter((status) => status !== 503 && status !== 401),
        'never 200',
      ).to.deep.equal([]);
      await late.http.get('/readyz').expect(200);
      await me(late, live.access_token).expect(200);
    } finally {
      await redis.del(log);
    }
  });

  it('reads the whole log after a failed read, whatever other instances logged meanwhile', async () => {
    const prefix = freshPrefix();
    const inspector = a.redis!.client;
    const { revocationLog: log, revocationChannel } = appKeys(prefix);
    await inspector.set(log, 'not a sorted set');
    try {
      const c = await startHarness({ prefix });
      others.push(c);
      const login = await c.login();
      await until('a failed read', 5000, async () => c.logs.join('').includes('revocation_catch_up_failed'));
      // Another instance logs an ending now: its message carries the log's time.
      const now = Number((await inspector.time())[0]) * 1000;
      await inspector.publish(revocationChannel, `${now} ${'B'.repeat(16)}`);
      await sleep(200);
      // The log as it is: the session of `login` ended two minutes before.
      await inspector.del(log);
      await inspector.zadd(log, now - 120_000, decodeJwt(login.access_token).sid as string);
      await until('/readyz 200', 10_000, async () => (await c.http.get('/readyz')).status === 200);
      await me(c, login.access_token).expect(401);
    } finally {
      await inspector.del(log);
    }
  });

  it('warns once while the log cannot be read, counts each failed read, and answers once it can', async () => {
    const prefix = freshPrefix();
    const inspector = a.redis!.client;
    const log = appKeys(prefix).revocationLog;
    // Something not ours under the log's key: every read of it fails until it is gone.
    await inspector.set(log, 'not a sorted set');
    try {
      const c = await startHarness({ prefix });
      others.push(c);
      const login = await c.login();
      await expectUnavailable(await me(c, login.access_token));
      await sleep(1500);
      await expectUnavailable(await c.http.get('/readyz'));
      const warnings = c.logs
        .map((line) => JSON.parse(line) as { event?: string; level: number; reason?: string })
        .filter((line) => line.event === 'revocation_catch_up_failed');
      expect(warnings, 'one warning for the whole streak').to.have.length(1);
      expect(warnings[0]!.level).to.equal(40);
      expect(warnings[0]!.reason).to.match(/^WRONGTYPE/);
      const metrics = (await c.http.get('/metrics').expect(200)).text;
      const failures = Number(/^wxauth_revocation_catchup_failures_total (\d+)/m.exec(metrics)?.[1]);
      expect(failures).to.be.at.least(2);

      await inspector.del(log);
      await until('/readyz 200', 10_000, async () => (await c.http.get('/readyz')).status === 200);
      await me(c, login.access_token).expect(200);
    } finally {
      await inspector.del(log);
    }
  });
});
