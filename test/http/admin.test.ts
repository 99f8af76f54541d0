import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type Koa from 'koa';
import supertest from 'supertest';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { createAdminApp } from '../../src/http/index.js';
import { createLogger } from '../../src/lib/index.js';
import { type Harness, type LoginResult, startHarness } from '../helpers/harness.js';

const PLAIN_KEY = randomBytes(24).toString('base64url'); // 32 characters
const HASHED_KEY = randomBytes(32).toString('hex');
const HASHED = `sha256:${createHash('sha256').update(HASHED_KEY).digest('hex')}`;
const shortId = (key: string) => createHash('sha256').update(key).digest('hex').slice(0, 8);

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

describe('the admin API', () => {
  let h: Harness;
  let admin: ReturnType<typeof supertest>;
  let adminApp: Koa;
  const lines: string[] = [];

  before(async () => {
    h = await startHarness({
      env: { ADMIN_API_KEYS: `${PLAIN_KEY}, ${HASHED}`, ADMIN_PORT: '0', RATE_LIMIT_ADMIN_PER_IP: '0' },
    });
    const logger = createLogger({
      level: 'info',
      destination: { write: (line: string) => void lines.push(line) },
    });
    adminApp = createAdminApp(h.config, {
      store: h.store,
      apps: h.apps,
      clock: h.clock,
      logger,
      metrics: h.metrics,
    });
    admin = supertest(adminApp.callback());
  });

  after(async () => {
    await h?.close();
  });

  const as = (key: string) => ({
    get: (path: string) => admin.get(path).set(bearer(key)),
    post: (path: string) => admin.post(path).set(bearer(key)),
    put: (path: string) => admin.put(path).set(bearer(key)),
    delete: (path: string) => admin.delete(path).set(bearer(key)),
  });
  const ops = as(PLAIN_KEY);
  const me = (login: LoginResult) => h.http.get('/auth/me').set(bearer(login.access_token));
  const loginOf = (openid: string) =>
    h.http.post('/auth/login').send({ code: h.emulator.login(openid).code });
  const actionLines = () =>
    lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.event === 'admin_action');

  describe('keys', () => {
    const routes: Array<[string, string]> = [
      ['get', '/admin/users/oSomeone'],
      ['post', '/admin/users/oSomeone/logout'],
      ['put', '/admin/users/oSomeone/ban'],
      ['delete', '/admin/users/oSomeone/ban'],
      ['delete', '/admin/users/oSomeone'],
      ['get', '/admin/no-such-route'],
    ];

    it('answers 401 on every route without a key, with a wrong one, or with a key of another case', async () => {
      for (const [method, path] of routes) {
        const call = (admin as unknown as Record<string, (p: string) => supertest.Test>)[method]!.bind(admin);
        const missing = await call(path);
        expect(missing.status, `${method} ${path}`).to.equal(401);
        expect(missing.headers['www-authenticate']).to.equal('Bearer realm="wxauth"');
        for (const wrong of [`${PLAIN_KEY}x`, PLAIN_KEY.toUpperCase(), HASHED, 'short']) {
          const res = await call(path).set(bearer(wrong));
          expect(res.status, `${method} ${path} with ${wrong}`).to.equal(401);
          expect(res.body.error).to.equal('invalid_token');
        }
      }
      const logged = lines.join('');
      for (const secret of [PLAIN_KEY, HASHED_KEY]) expect(logged).not.to.contain(secret);
    });

    it('accepts a plain key and the key of a sha256: digest, naming each in its action line by a short id', async () => {
      const login = await h.login();
      await as(PLAIN_KEY).get(`/admin/users/${login.openid}`).expect(200);
      await as(HASHED_KEY).get(`/admin/users/${login.openid}`).expect(200);
      const mine = actionLines().filter((line) => line.openid === login.openid);
      expect(mine.map((line) => line.key)).to.deep.equal([shortId(PLAIN_KEY), shortId(HASHED_KEY)]);
      expect(mine[0]).to.include({ action: 'GET /admin/users/:openid', status: 200 });
      const logged = lines.join('');
      for (const secret of [PLAIN_KEY, HASHED_KEY, HASHED]) expect(logged).not.to.contain(secret);
    });
  });

  it('looks a user up: unionid, login times, ban and sessions, never the session_key', async () => {
    const first = await h.login();
    h.clock.advance(3000);
    await h.login(first.openid);
    const res = await ops.get(`/admin/users/${first.openid}`).expect(200);
    const user = await h.store.getUser(first.openid);
    expect(res.body).to.include({
      openid: first.openid,
      first_login_at: Math.floor(user!.firstLoginAtMs / 1000),
      last_login_at: Math.floor(user!.lastLoginAtMs / 1000),
      banned: null,
    });
    expect(res.body.last_login_at - res.body.first_login_at).to.equal(3);
    if (first.unionid) expect(res.body.unionid).to.equal(first.unionid);
    expect(res.body.sessions).to.have.length(2);
    expect(res.body.sessions[0]).to.have.keys([
      'id',
      'created_at',
      'refreshed_at',
      'expires_at',
      'device',
      'app',
    ]);
    expect(res.body.identities).to.deep.equal([
      {
        appid: h.emulator.appid,
        openid: first.openid,
        first_login_at: res.body.first_login_at,
        last_login_at: res.body.last_login_at,
      },
    ]);
    expect(JSON.stringify(res.body)).not.to.contain(user!.sessionKey);
    expect(res.headers['cache-control']).to.equal('no-store');
  });

  it('answers 404 not_found on every route for a user it does not know, and 400 for a malformed openid', async () => {
    const nobody = `oNobody${randomBytes(8).toString('hex')}`;
    for (const res of [
      await ops.get(`/admin/users/${nobody}`),
      await ops.post(`/admin/users/${nobody}/logout`),
      await ops.put(`/admin/users/${nobody}/ban`).send({ reason: 'x' }),
      await ops.delete(`/admin/users/${nobody}/ban`),
      await ops.delete(`/admin/users/${nobody}`),
    ]) {
      expect(res.status).to.equal(404);
      expect(res.body.error).to.equal('not_found');
    }
    expect(await h.store.getBan(nobody, h.clock.now())).to.equal(null);
    const res = await ops.get('/admin/users/not%20an%20openid').expect(400);
    expect(res.body.error).to.equal('invalid_request');
  });

  it('logs a user out everywhere at once, leaving other users alone', async () => {
    const first = await h.login();
    const second = await h.login(first.openid);
    const other = await h.login();
    await ops.post(`/admin/users/${first.openid}/logout`).expect(204);
    await me(first).expect(401);
    await me(second).expect(401);
    await h.http.post('/auth/refresh').send({ refresh_token: second.refresh_token }).expect(400);
    await me(other).expect(200);
    expect(actionLines().at(-1)).to.include({
      action: 'POST /admin/users/:openid/logout',
      openid: first.openid,
    });
  });

  it('bans a user: sessions ended at once, login 403 access_denied until the ban is lifted', async () => {
    const login = await h.login();
    await ops.put(`/admin/users/${login.openid}/ban`).send({ reason: 'spam' }).expect(204);
    await me(login).expect(401);
    const refused = await loginOf(login.openid).expect(403);
    expect(refused.body.error).to.equal('access_denied');
    const looked = await ops.get(`/admin/users/${login.openid}`).expect(200);
    expect(looked.body.banned).to.deep.equal({ reason: 'spam', until: null });
    expect(looked.body.sessions).to.deep.equal([]);
    await ops.delete(`/admin/users/${login.openid}/ban`).expect(204);
    await loginOf(login.openid).expect(200);
    expect((await ops.get(`/admin/users/${login.openid}`).expect(200)).body.banned).to.equal(null);
  });

  it('lifts a ban by itself at until', async () => {
    const login = await h.login();
    const until = Math.floor(h.clock.now() / 1000) + 3600;
    await ops.put(`/admin/users/${login.openid}/ban`).send({ until }).expect(204);
    expect((await ops.get(`/admin/users/${login.openid}`)).body.banned).to.deep.equal({
      reason: null,
      until,
    });
    h.clock.advance(3599_000);
    await loginOf(login.openid).expect(403);
    h.clock.advance(1000);
    await loginOf(login.openid).expect(200);
    expect((await ops.get(`/admin/users/${login.openid}`)).body.banned).to.equal(null);
  });

  const badBans: Array<[string, unknown, string?]> = [
    ['a reason of more than 200 characters', { reason: 'x'.repeat(201) }],
    ['until as a string', { until: '1999999999' }],
    ['until with a fraction', { until: 1999999999.5 }],
    ['until in the past', { until: 1000 }],
    ['until beyond the year 9999', { until: 1e15 }],
    ['a misspelt field', { untill: 1999999999 }],
    ['a body that is not an object', [1, 2]],
    ['a body that is not JSON', '{"reason":', 'application/json'],
  ];
  for (const [what, body, type] of badBans) {
    it(`answers 400 invalid_request to a ban with ${what}, and bans nobody`, async () => {
      const login = await h.login();
      const call = ops.put(`/admin/users/${login.openid}/ban`);
      const res = await (type ? call.type(type).send(body as string) : call.send(body as object)).expect(400);
      expect(res.body.error).to.equal('invalid_request');
      await me(login).expect(200);
      expect(await h.store.getBan(login.openid, h.clock.now())).to.equal(null);
    });
  }

  it('deletes a user as DELETE /auth/account does, and a ban outlives it', async () => {
    const login = await h.login();
    await ops.put(`/admin/users/${login.openid}/ban`).send({ reason: 'fraud' }).expect(204);
    await ops.delete(`/admin/users/${login.openid}`).expect(204);
    expect(await h.store.getUser(login.openid)).to.equal(null);
    const looked = await ops.get(`/admin/users/${login.openid}`).expect(200);
    expect(looked.body).to.deep.equal({
      openid: login.openid,
      identities: [
        { appid: h.emulator.appid, openid: login.openid, first_login_at: null, last_login_at: null },
      ],
      first_login_at: null,
      last_login_at: null,
      banned: { reason: 'fraud', until: null },
      sessions: [],
    });
    await loginOf(login.openid).expect(403);

    const plain = await h.login();
    await ops.delete(`/admin/users/${plain.openid}`).expect(204);
    await me(plain).expect(401);
    await ops.get(`/admin/users/${plain.openid}`).expect(404);
    expect((await h.login(plain.openid)).is_new_user).to.equal(true);
  });

  it('counts admin actions by route and status in /metrics', async () => {
    const login = await h.login();
    await ops.get(`/admin/users/${login.openid}`).expect(200);
    await admin.get(`/admin/users/${login.openid}`).expect(401);
    const text = (await h.http.get('/metrics').expect(200)).text;
    expect(text).to.match(
      /^wxauth_admin_actions_total\{route="\/admin\/users\/:openid",status="200"\} [1-9]/m,
    );
    expect(text).to.match(/^wxauth_admin_actions_total\{route="unmatched",status="401"\} [1-9]/m);
    expect(text).to.match(/^wxauth_revocations_total\{cause="ban"\} [1-9]/m);
    expect(text).to.match(/^wxauth_revocations_total\{cause="admin_logout"\} [1-9]/m);
  });

  it('is not served on the public port', async () => {
    const res = await h.http.get('/admin/users/oSomeone').set(bearer(PLAIN_KEY)).expect(404);
    expect(res.body.error).to.equal('invalid_request');
  });
});

describe('the admin API rate limit', () => {
  let h: Harness;
  let admin: ReturnType<typeof supertest>;
  beforeEach(async () => {
    h = await startHarness({
      env: { ADMIN_API_KEYS: PLAIN_KEY, ADMIN_PORT: '0', RATE_LIMIT_ADMIN_PER_IP: '3/60' },
    });
    const app = createAdminApp(h.config, {
      store: h.store,
      apps: h.apps,
      clock: h.clock,
      logger: createLogger({ level: 'silent' }),
      metrics: h.metrics,
    });
    admin = supertest(app.callback());
  });
  afterEach(async () => {
    await h.close();
  });

  it('answers 429 with Retry-After to wrong and missing keys past RATE_LIMIT_ADMIN_PER_IP', async () => {
    await admin.get('/admin/users/oSomeone').set(bearer('wrong-key-wrong-key-wrong-key-wrong')).expect(401);
    await admin.get('/admin/users/oSomeone').expect(401);
    await admin
      .post('/admin/users/oSomeone/logout')
      .set(bearer(`${PLAIN_KEY}x`))
      .expect(401);
    const res = await admin
      .get('/admin/users/oSomeone')
      .set(bearer(`${PLAIN_KEY}x`))
      .expect(429);
    expect(res.body.error).to.equal('rate_limited');
    expect(Number(res.headers['retry-after'])).to.be.above(0);
  });

  it('never locks the right key out: a flood of wrong keys from its address leaves it served', async () => {
    for (let i = 0; i < 20; i += 1) {
      await admin.get('/admin/users/oSomeone').set(bearer(`wrong-${i}-wrong-key-wrong-key-wrong-key`));
    }
    await admin.get('/admin/users/oSomeone').set(bearer('still-a-wrong-key-still-a-wrong-key')).expect(429);
    const login = await h.login();
    for (let i = 0; i < 10; i += 1) {
      await admin.get(`/admin/users/${login.openid}`).set(bearer(PLAIN_KEY)).expect(200);
    }
    await admin.post(`/admin/users/${login.openid}/logout`).set(bearer(PLAIN_KEY)).expect(204);
  });
});

describe('read-only admin keys', () => {
  const READ_ONLY = randomBytes(24).toString('base64url');
  const READ_ONLY_HASHED = randomBytes(32).toString('hex');
  let h: Harness;
  let admin: ReturnType<typeof supertest>;
  const lines: string[] = [];
  before(async () => {
    h = await startHarness({
      env: {
        ADMIN_API_KEYS: `${PLAIN_KEY}, ro:${READ_ONLY}, ro:sha256:${createHash('sha256').update(READ_ONLY_HASHED).digest('hex')}`,
        ADMIN_PORT: '0',
      },
    });
    const logger = createLogger({
      level: 'info',
      destination: { write: (line: string) => void lines.push(line) },
    });
    admin = supertest(
      createAdminApp(h.config, {
        store: h.store,
        apps: h.apps,
        clock: h.clock,
        logger,
        metrics: h.metrics,
      }).callback(),
    );
  });
  after(async () => {
    await h?.close();
  });

  it('look users up with GET, naming the key by its short id in the action line', async () => {
    const login = await h.login();
    for (const key of [READ_ONLY, READ_ONLY_HASHED]) {
      const res = await admin.get(`/admin/users/${login.openid}`).set(bearer(key)).expect(200);
      expect(res.body.openid).to.equal(login.openid);
    }
    const mine = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.event === 'admin_action' && line.openid === login.openid);
    expect(mine.map((line) => line.key)).to.deep.equal([shortId(READ_ONLY), shortId(READ_ONLY_HASHED)]);
    for (const secret of [READ_ONLY, READ_ONLY_HASHED]) expect(lines.join('')).not.to.contain(secret);
  });

  it('answer 403 access_denied to every other route, which then changes nothing', async () => {
    const login = await h.login();
    for (const key of [READ_ONLY, READ_ONLY_HASHED]) {
      for (const [method, path] of [
        ['post', `/admin/users/${login.openid}/logout`],
        ['put', `/admin/users/${login.openid}/ban`],
        ['delete', `/admin/users/${login.openid}/ban`],
        ['delete', `/admin/users/${login.openid}`],
      ] as const) {
        const res = await admin[method](path).set(bearer(key)).send({});
        expect(res.status, `${method} ${path}`).to.equal(403);
        expect(res.body.error).to.equal('access_denied');
      }
    }
    await h.http.get('/auth/me').set(bearer(login.access_token)).expect(200);
    const looked = await admin.get(`/admin/users/${login.openid}`).set(bearer(READ_ONLY)).expect(200);
    expect(looked.body.banned).to.equal(null);
    expect(looked.body.sessions).to.have.length(1);
    // The full key still may.
    await admin.post(`/admin/users/${login.openid}/logout`).set(bearer(PLAIN_KEY)).expect(204);
    for (const secret of [READ_ONLY, READ_ONLY_HASHED]) expect(lines.join('')).not.to.contain(secret);
  });
});

describe('admin settings', () => {
  const refusal = (env: Record<string, string>) => {
    try {
      loadConfig(env);
    } catch (error) {
      expect(error).to.be.instanceOf(ConfigError);
      return (error as Error).message;
    }
    throw new Error('accepted');
  };

  it('has no admin API unless ADMIN_API_KEYS is set, and then listens on ADMIN_HOST (127.0.0.1) and ADMIN_PORT', () => {
    expect(loadConfig({}).admin).to.equal(undefined);
    expect(loadConfig({ ADMIN_PORT: '9100' }).admin).to.equal(undefined);
    expect(loadConfig({ ADMIN_API_KEYS: `${PLAIN_KEY},${HASHED}`, ADMIN_PORT: '9100' }).admin).to.deep.equal({
      keys: [
        { key: PLAIN_KEY, readOnly: false },
        { key: HASHED, readOnly: false },
      ],
      port: 9100,
      host: '127.0.0.1',
    });
  });

  it('reads a key written ro:<key> or ro:sha256:<hex> as read-only', () => {
    expect(
      loadConfig({ ADMIN_API_KEYS: `${PLAIN_KEY}, ro:${PLAIN_KEY}x, ro:${HASHED}`, ADMIN_PORT: '9100' }).admin
        ?.keys,
    ).to.deep.equal([
      { key: PLAIN_KEY, readOnly: false },
      { key: `${PLAIN_KEY}x`, readOnly: true },
      { key: HASHED, readOnly: true },
    ]);
  });

  it('refuses a malformed read-only key or one key listed twice, in one line naming ADMIN_API_KEYS and no key', () => {
    for (const bad of [
      'ro:',
      `ro:${'x'.repeat(31)}`,
      'ro:sha256:abc',
      `ro: ${PLAIN_KEY}`,
      `${PLAIN_KEY},ro:${PLAIN_KEY}`,
      `${PLAIN_KEY},sha256:${createHash('sha256').update(PLAIN_KEY).digest('hex')}`,
    ]) {
      const message = refusal({ ADMIN_API_KEYS: bad, ADMIN_PORT: '9100' });
      expect(message, bad).to.match(/^ADMIN_API_KEYS is invalid/);
      expect(message, bad).not.to.contain('\n');
      expect(message, bad).not.to.contain(PLAIN_KEY);
    }
  });

  it('refuses keys shorter than 32 characters, a malformed digest, no ADMIN_PORT, or the public port', () => {
    expect(refusal({ ADMIN_API_KEYS: 'x'.repeat(31), ADMIN_PORT: '9100' })).to.match(
      /^ADMIN_API_KEYS is invalid/,
    );
    expect(refusal({ ADMIN_API_KEYS: 'sha256:abc', ADMIN_PORT: '9100' })).to.match(
      /^ADMIN_API_KEYS is invalid/,
    );
    expect(refusal({ ADMIN_API_KEYS: PLAIN_KEY })).to.contain('ADMIN_PORT is required');
    expect(refusal({ ADMIN_API_KEYS: PLAIN_KEY, ADMIN_PORT: '3000' })).to.contain('ADMIN_PORT must differ');
  });

  it('never prints the keys in a refusal', () => {
    expect(refusal({ ADMIN_API_KEYS: `${PLAIN_KEY},short`, ADMIN_PORT: '9100' })).not.to.contain(PLAIN_KEY);
  });
});
