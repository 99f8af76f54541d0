import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { generatePrivateJwks } from '../../src/tokens/index.js';
import { type Harness, startHarness } from '../helpers/harness.js';
import { startRedisServer } from '../setup/hooks.js';
import type { RedisServer } from '../setup/redis.js';

describe('operations', () => {
  describe('GET /metrics', () => {
    let h: Harness;
    before(async () => {
      h = await startHarness();
    });
    after(async () => {
      await h.close();
    });

    it('counts requests by route and status, WeChat calls by outcome and token events', async () => {
      const login = await h.login();
      await h.http.post('/auth/refresh').send({ refresh_token: login.refresh_token }).expect(200);
      await h.http.post('/auth/login').send({ code: 'unknown-code' }).expect(400);
      const res = await h.http.get('/metrics').expect(200);
      expect(res.headers['content-type']).to.match(/^text\/plain/);
      const text = res.text;
      expect(text).to.match(
        /wxauth_http_requests_total\{route="\/auth\/login",method="POST",status="200"\} 1/,
      );
      expect(text).to.match(
        /wxauth_http_requests_total\{route="\/auth\/login",method="POST",status="400"\} 1/,
      );
      expect(text).to.match(
        /wxauth_http_request_duration_seconds_bucket\{le="[^"]+",route="\/auth\/refresh",method="POST"\}/,
      );
      const app = h.emulator.appid;
      expect(text).to.contain(
        `wxauth_wechat_calls_total{appid="${app}",api="jscode2session",outcome="ok"} 1`,
      );
      expect(text).to.contain(
        `wxauth_wechat_calls_total{appid="${app}",api="jscode2session",outcome="40029"} 1`,
      );
      expect(text).to.match(/wxauth_tokens_total\{event="issued"\} 1/);
      expect(text).to.match(/wxauth_tokens_total\{event="refreshed"\} 1/);
      expect(text).to.match(/wxauth_tokens_total\{event="reuse_detected"\} 0/);
    });

    it('labels unknown paths as unmatched instead of one series per path', async () => {
      await h.http.get('/no/such/path/123').expect(404);
      const text = (await h.http.get('/metrics')).text;
      expect(text).not.to.contain('/no/such/path');
      expect(text).to.match(/route="unmatched",method="GET",status="404"/);
    });
  });

  describe('GET /metrics in production', () => {
    let production: Record<string, string>;
    before(async () => {
      const file = join(mkdtempSync(join(tmpdir(), 'wxauth-metrics-')), 'keys.json');
      writeFileSync(file, JSON.stringify(await generatePrivateJwks()), { mode: 0o600 });
      production = {
        NODE_ENV: 'production',
        JWT_SIGNING_KEYS_FILE: file,
        SESSION_KEY_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
        PUBLIC_URL: 'https://auth.example.com',
      };
    });

    it('answers 404 for /metrics on the public port, which the internet may reach', async () => {
      const h = await startHarness({ env: production });
      try {
        await h.login();
        const res = await h.http.get('/metrics').expect(404);
        expect(res.body.error).to.equal('invalid_request');
        expect(res.text).not.to.contain('wxauth_');
      } finally {
        await h.close();
      }
    });

    it('serves /metrics on the public port when METRICS_PUBLIC=1 asks for it', async () => {
      const h = await startHarness({ env: { ...production, METRICS_PUBLIC: '1' } });
      try {
        await h.login();
        const res = await h.http.get('/metrics').expect(200);
        expect(res.text).to.match(/wxauth_tokens_total\{event="issued"\} 1/);
      } finally {
        await h.close();
      }
    });
  });

  describe('rate limits', () => {
    it('answers a burst of 200 logins from one address with 429s, Retry-After and RateLimit headers once over the limit', async () => {
      const h = await startHarness({ env: { RATE_LIMIT_LOGIN_PER_IP: '30/60' } });
      try {
        const statuses: number[] = [];
        let refused: { headers: Record<string, string>; body: { error: string } } | undefined;
        for (let i = 0; i < 200; i++) {
          const res = await h.http.post('/auth/login').send({ code: 'x' });
          statuses.push(res.status);
          if (res.status === 429) refused ??= res;
        }
        expect(statuses.slice(0, 30).every((s) => s === 400)).to.equal(true);
        expect(statuses.slice(30).every((s) => s === 429)).to.equal(true);
        expect(refused!.body.error).to.equal('rate_limited');
        expect(Number(refused!.headers['retry-after'])).to.be.within(1, 60);
        expect(refused!.headers['ratelimit-limit']).to.equal('30');
        expect(refused!.headers['ratelimit-remaining']).to.equal('0');
        expect(h.emulator.calls('jscode2session')).to.equal(30);
        expect((await h.http.get('/metrics')).text).to.match(
          /wxauth_rate_limited_total\{limit="login_ip"\} 170/,
        );
      } finally {
        await h.close();
      }
    });

    it('shares its counters between two instances through Redis', async () => {
      const a = await startHarness({ env: { RATE_LIMIT_LOGIN_PER_IP: '4/60' } });
      const b = await startHarness({ env: { RATE_LIMIT_LOGIN_PER_IP: '4/60' }, prefix: a.redis!.prefix });
      try {
        for (let i = 0; i < 2; i++) await a.http.post('/auth/login').send({ code: 'x' }).expect(400);
        for (let i = 0; i < 2; i++) await b.http.post('/auth/login').send({ code: 'x' }).expect(400);
        await a.http.post('/auth/login').send({ code: 'x' }).expect(429);
        await b.http.post('/auth/login').send({ code: 'x' }).expect(429);
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('limits refreshes per user, whatever address they come from', async () => {
      const h = await startHarness({ env: { RATE_LIMIT_REFRESH_PER_USER: '3/60' } });
      try {
        let token = (await h.login()).refresh_token;
        for (let i = 0; i < 3; i++) {
          token = (await h.http.post('/auth/refresh').send({ refresh_token: token }).expect(200)).body
            .refresh_token;
        }
        const res = await h.http.post('/auth/refresh').send({ refresh_token: token }).expect(429);
        expect(res.headers['retry-after']).to.match(/^\d+$/);
        const other = await h.login();
        await h.http.post('/auth/refresh').send({ refresh_token: other.refresh_token }).expect(200);
      } finally {
        await h.close();
      }
    });
  });

  describe('WeChat circuit breaker', () => {
    it('fails fast after five consecutive WeChat failures, then lets a trial through after the cooldown', async () => {
      const h = await startHarness({
        env: { WECHAT_BREAKER_THRESHOLD: '5', WECHAT_BREAKER_COOLDOWN_MS: '5000' },
      });
      try {
        h.emulator.setFault({ api: 'jscode2session', mode: 'busy', times: 5 });
        for (let i = 0; i < 5; i++)
          await h.http.post('/auth/login').send({ code: h.emulator.login().code }).expect(502);
        const fast = await h.http.post('/auth/login').send({ code: h.emulator.login().code }).expect(502);
        expect(fast.body.error).to.equal('upstream_unavailable');
        expect(Number(fast.headers['retry-after'])).to.be.within(1, 5);
        expect(h.emulator.calls('jscode2session')).to.equal(5);
        h.clock.advance(5001);
        await h.login();
        await h.login();
        expect(h.emulator.calls('jscode2session')).to.equal(7);
        h.emulator.assertNoPendingFaults();
      } finally {
        await h.close();
      }
    });

    it('reopens when the trial call fails too', async () => {
      const h = await startHarness({
        env: { WECHAT_BREAKER_THRESHOLD: '2', WECHAT_BREAKER_COOLDOWN_MS: '1000' },
      });
      try {
        h.emulator.setFault({ api: 'jscode2session', mode: 'http500', times: 3 });
        for (let i = 0; i < 2; i++)
          await h.http.post('/auth/login').send({ code: h.emulator.login().code }).expect(502);
        h.clock.advance(1001);
        await h.http.post('/auth/login').send({ code: h.emulator.login().code }).expect(502);
        await h.http.post('/auth/login').send({ code: h.emulator.login().code }).expect(502);
        expect(h.emulator.calls('jscode2session')).to.equal(3);
      } finally {
        await h.close();
      }
    });

    it('does not count answers about the request (40029) as WeChat failing', async () => {
      const h = await startHarness({ env: { WECHAT_BREAKER_THRESHOLD: '2' } });
      try {
        for (let i = 0; i < 5; i++) await h.http.post('/auth/login').send({ code: 'unknown' }).expect(400);
        await h.login();
      } finally {
        await h.close();
      }
    });
  });

  describe('Redis outage', function () {
    this.timeout(30000);
    let server: RedisServer;
    let h: Harness;
    before(async () => {
      server = await startRedisServer();
      h = await startHarness({ redisServer: server });
    });
    after(async () => {
      await h.close();
      await server.stop();
    });

    it('keeps Bearer routes answering, fails store routes within a second, and recovers without a restart', async () => {
      const before = await h.login();
      await h.http.get('/readyz').expect(200);

      await server.stop();
      await h.http.get('/auth/me').set('Authorization', `Bearer ${before.access_token}`).expect(200);
      const started = Date.now();
      const login = await h.http.post('/auth/login').send({ code: h.emulator.login().code });
      expect(Date.now() - started).to.be.below(1000);
      expect(login.status).to.equal(503);
      expect(login.body.error).to.equal('temporarily_unavailable');
      expect(login.headers['retry-after']).to.match(/^\d+$/);
      const refresh = await h.http.post('/auth/refresh').send({ refresh_token: before.refresh_token });
      expect(refresh.status).to.equal(503);
      const ready = await h.http.get('/readyz');
      expect(ready.status).to.equal(503);
      expect(ready.body.error).to.equal('temporarily_unavailable');

      await server.restart();
      // Redis restarted empty (no persistence here); the client reconnects by itself.
      const deadline = Date.now() + 10000;
      while ((await h.http.get('/readyz')).status !== 200) {
        if (Date.now() > deadline) throw new Error('never ready again');
        await new Promise((r) => setTimeout(r, 100));
      }
      const after = await h.login();
      await h.http.post('/auth/refresh').send({ refresh_token: after.refresh_token }).expect(200);
      expect((await h.http.get('/metrics')).text).to.match(/wxauth_store_errors_total \d+/);
    });

    it('loses no session made before an outage: a Redis that stops answering, then answers again', async () => {
      const before = await h.login();
      await server.freeze();
      try {
        const started = Date.now();
        const refresh = await h.http.post('/auth/refresh').send({ refresh_token: before.refresh_token });
        expect(refresh.status).to.equal(503);
        expect(Date.now() - started).to.be.below(1000);
        await h.http.get('/auth/me').set('Authorization', `Bearer ${before.access_token}`).expect(200);
      } finally {
        await server.thaw();
      }
      const deadline = Date.now() + 10000;
      while ((await h.http.get('/readyz')).status !== 200) {
        if (Date.now() > deadline) throw new Error('never ready again');
        await new Promise((r) => setTimeout(r, 100));
      }
      const rotated = await h.http
        .post('/auth/refresh')
        .send({ refresh_token: before.refresh_token })
        .expect(200);
      expect(rotated.body.openid).to.equal(before.openid);
    });
  });
});
