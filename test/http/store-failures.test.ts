import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { userKeys } from '../../src/store/index.js';
import { type Harness, startHarness } from '../helpers/harness.js';
import { relay } from '../helpers/relay.js';
import { startRedisServer } from '../setup/hooks.js';
import { type RedisServer, rawCommand, until } from '../setup/redis.js';

/** What the store routes do when Redis stalls, fills up or refuses writes: 503, and nothing half done. */
describe('the store failing under the service', function () {
  this.timeout(30000);
  let server: RedisServer;
  let h: Harness;

  beforeEach(async () => {
    server = await startRedisServer();
  });
  afterEach(async () => {
    await h?.close();
    await server.thaw().catch(() => undefined);
    await server.stop();
  });

  async function ready(): Promise<void> {
    await until('/readyz 200', 10000, async () => (await h.http.get('/readyz')).status === 200);
  }

  describe('a Redis stall longer than REFRESH_REUSE_GRACE', () => {
    it('keeps the session alive: the refresh that got 503 does nothing when Redis wakes, and the retry rotates', async () => {
      h = await startHarness({ redisServer: server, env: { REFRESH_REUSE_GRACE: '2' } });
      const login = await h.login();
      await server.freeze();
      try {
        const during = await h.http.post('/auth/refresh').send({ refresh_token: login.refresh_token });
        expect(during.status).to.equal(503);
        expect(during.body.error).to.equal('temporarily_unavailable');
        // The stall lasts past the grace window, by Redis's clock and by the service's.
        await new Promise((resolve) => setTimeout(resolve, 2500));
        h.clock.advance(2500);
      } finally {
        await server.thaw();
      }
      await ready();
      const retry = await h.http.post('/auth/refresh').send({ refresh_token: login.refresh_token });
      expect(retry.status, JSON.stringify(retry.body)).to.equal(200);
      await h.http.post('/auth/refresh').send({ refresh_token: retry.body.refresh_token }).expect(200);
      expect(h.logs.join('')).not.to.contain('refresh_token_reuse');
    });

    it('answers a login retried after the stall at once: no claim of its code is left for nobody', async () => {
      h = await startHarness({ redisServer: server });
      // Ready: the store has measured Redis's clock (its first TIME answered before the ping), so its
      // scripts carry the deadline this test is about.
      await ready();
      const { code } = h.emulator.login();
      await server.freeze();
      try {
        const during = await h.http.post('/auth/login').send({ code });
        expect(during.status).to.equal(503);
        await new Promise((resolve) => setTimeout(resolve, 1200));
      } finally {
        await server.thaw();
      }
      await ready();
      const started = Date.now();
      const retry = await h.http.post('/auth/login').send({ code });
      expect(retry.status, JSON.stringify(retry.body)).to.equal(200);
      expect(Date.now() - started).to.be.below(1000);
    });

    it('answers every request during the stall within about one command timeout', async () => {
      h = await startHarness({
        redisServer: server,
        env: {
          REDIS_COMMAND_TIMEOUT_MS: '300',
          RATE_LIMIT_REFRESH_PER_IP: '100/60',
          RATE_LIMIT_REFRESH_PER_USER: '100/60',
        },
      });
      const login = await h.login();
      await server.freeze();
      try {
        for (let i = 0; i < 3; i++) {
          const started = Date.now();
          const res = await h.http.post('/auth/refresh').send({ refresh_token: login.refresh_token });
          expect(res.status).to.equal(503);
          expect(Date.now() - started, `request ${i}`).to.be.below(450);
        }
      } finally {
        await server.thaw();
      }
      await ready();
      await h.http.post('/auth/refresh').send({ refresh_token: login.refresh_token }).expect(200);
    });
  });

  describe('a rotation whose answer the stall held back', () => {
    it('takes the retry with the old token as a retry, not as a reuse, though the rotation ran before the stall', async () => {
      const via = await relay(server.port);
      try {
        h = await startHarness({
          redisServer: { ...server, url: via.url },
          env: { REFRESH_REUSE_GRACE: '2' },
        });
        const login = await h.login();
        via.hold();
        const during = await h.http.post('/auth/refresh').send({ refresh_token: login.refresh_token });
        expect(during.status).to.equal(503);
        // The stall outlasts the grace window.
        await new Promise((resolve) => setTimeout(resolve, 2500));
        h.clock.advance(2500);
        via.release();
        await ready();
        const retry = await h.http.post('/auth/refresh').send({ refresh_token: login.refresh_token });
        expect(retry.status, JSON.stringify(retry.body)).to.equal(200);
        await h.http.post('/auth/refresh').send({ refresh_token: retry.body.refresh_token }).expect(200);
        expect(h.logs.join('')).not.to.contain('refresh_token_reuse');
      } finally {
        await h.close();
        h = undefined as unknown as Harness;
        via.close();
      }
    });
  });

  describe('a Redis that answers but refuses writes', () => {
    async function expectUnavailable(res: {
      status: number;
      body: { error: string };
      headers: Record<string, string>;
    }) {
      expect(res.status, JSON.stringify(res.body)).to.equal(503);
      expect(res.body.error).to.equal('temporarily_unavailable');
      expect(res.headers['retry-after']).to.match(/^\d+$/);
    }

    it('answers login and refresh 503 with Retry-After when memory is full (noeviction), and /readyz says so', async () => {
      h = await startHarness({ redisServer: server });
      const login = await h.login();
      await rawCommand(server.port, ['CONFIG', 'SET', 'maxmemory-policy', 'noeviction']);
      await rawCommand(server.port, ['CONFIG', 'SET', 'maxmemory', '1']);
      try {
        await expectUnavailable(await h.http.post('/auth/login').send({ code: h.emulator.login().code }));
        await expectUnavailable(
          await h.http.post('/auth/refresh').send({ refresh_token: login.refresh_token }),
        );
        await expectUnavailable(await h.http.get('/readyz'));
      } finally {
        await rawCommand(server.port, ['CONFIG', 'SET', 'maxmemory', '0']);
      }
      await h.http.get('/readyz').expect(200);
      await h.http.post('/auth/refresh').send({ refresh_token: login.refresh_token }).expect(200);
      expect(h.logs.join('')).not.to.match(/unhandled error|"stack"/);
    });

    it('logs a logout answered 503 for a full Redis once it takes writes again, with no call from the client', async () => {
      h = await startHarness({ redisServer: server });
      const login = await h.login();
      const me = (on: Harness) =>
        on.http.get('/auth/me').set('Authorization', `Bearer ${login.access_token}`);
      await me(h).expect(200);
      await rawCommand(server.port, ['CONFIG', 'SET', 'maxmemory-policy', 'noeviction']);
      await rawCommand(server.port, ['CONFIG', 'SET', 'maxmemory', '1']);
      try {
        // The ending frees memory and goes through; the log write after it is refused (OOM).
        const res = await h.http
          .post('/auth/logout')
          .set('Authorization', `Bearer ${login.access_token}`)
          .send({ refresh_token: login.refresh_token });
        await expectUnavailable(res);
        await new Promise((resolve) => setTimeout(resolve, 500));
      } finally {
        await rawCommand(server.port, ['CONFIG', 'SET', 'maxmemory', '0']);
      }
      await me(h).expect(401);
      // An instance started now knows only what the log and the channel tell it.
      const late = await startHarness({ peer: h });
      try {
        await until(
          'the late instance to refuse the token',
          10_000,
          async () => (await me(late)).status === 401,
        );
      } finally {
        await late.close();
      }
    });

    it('answers 503 when Redis refuses writes after a failed save (MISCONF), and /readyz says so', async () => {
      // A save that cannot land: the dump file's name is taken by a directory.
      const dir = mkdtempSync(join(tmpdir(), 'wxauth-misconf-'));
      await server.stop();
      server = await startRedisServer({ args: ['--dir', dir, '--save', '3600 1'] });
      mkdirSync(join(dir, 'dump.rdb'));
      h = await startHarness({ redisServer: server });
      const login = await h.login();
      try {
        await rawCommand(server.port, ['BGSAVE']);
        await until('the save to fail', 5000, async () =>
          (await rawCommand(server.port, ['INFO', 'persistence'])).includes('rdb_last_bgsave_status:err'),
        );
        await expectUnavailable(
          await h.http.post('/auth/refresh').send({ refresh_token: login.refresh_token }),
        );
        await expectUnavailable(await h.http.get('/readyz'));
      } finally {
        await rawCommand(server.port, ['CONFIG', 'SET', 'save', '']);
        rmSync(dir, { recursive: true, force: true });
      }
      expect(h.logs.join('')).not.to.match(/unhandled error|"stack"/);
    });

    it('logs a store error that is a fault of ours (NOPERM) as a 500 without its command arguments', async () => {
      h = await startHarness({ redisServer: server });
      const { code } = h.emulator.login();
      // Scripts carry the session_key, token digests and seeds as arguments; ioredis puts them on its errors.
      await rawCommand(server.port, ['ACL', 'SETUSER', 'default', '-@scripting']);
      try {
        const res = await h.http.post('/auth/login').send({ code });
        expect(res.status).to.equal(500);
        expect(res.body.error).to.equal('server_error');
      } finally {
        await rawCommand(server.port, ['ACL', 'SETUSER', 'default', '+@all']);
      }
      const logs = h.logs.join('');
      expect(logs).to.contain('NOPERM');
      expect(logs).not.to.match(/"args"|"command"/);
    });

    it('answers 503 for a foreign value under one of its keys, writes nothing, and logs no command arguments', async () => {
      h = await startHarness({ redisServer: server });
      const first = await h.login();
      const keys = userKeys(h.redis!.prefix, first.openid);
      const before = await h.redis!.client.hgetall(keys.user);
      await h.redis!.client.del(keys.sessions);
      await h.redis!.client.set(keys.sessions, 'not ours');
      const { code } = h.emulator.login(first.openid);
      const res = await h.http.post('/auth/login').send({ code });
      expect(res.status, JSON.stringify(res.body)).to.equal(503);
      // The user record is as it was: the script refused before its first write.
      expect(await h.redis!.client.hgetall(keys.user)).to.deep.equal(before);
      const logs = h.logs.join('');
      expect(logs).to.contain('WRONGTYPE');
      expect(logs).not.to.match(/"args"|"command"|"stack"/);
    });
  });
});
