import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { decodeJwt } from 'jose';
import { type Harness, startHarness } from '../helpers/harness.js';

/**
 * Upgrading from the version that served one mini-program: the Redis keys and tokens in the fixture were
 * written by that version's own code (its store and session flows), and are loaded here as they were.
 */
interface Fixture {
  writtenAtMs: number;
  appid: string;
  issuer: string;
  jwks: unknown;
  users: Record<
    'alice' | 'bob',
    { openid: string; unionid?: string; refresh_tokens: string[]; access_token: string }
  >;
  keys: Array<
    | { key: string; type: 'string'; pttl: number; value: string }
    | { key: string; type: 'hash'; pttl: number; value: Record<string, string> }
    | { key: string; type: 'zset'; pttl: number; value: string[] }
  >;
}

const FIXTURE: Fixture = JSON.parse(
  readFileSync(new URL('../store/fixtures/one-app-store.json', import.meta.url), 'utf8'),
);

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

describe('upgrading from one mini-program to several apps', () => {
  let h: Harness;
  let dir: string;
  let second: string;
  const { alice, bob } = FIXTURE.users;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wxauth-upgrade-'));
    const keysFile = join(dir, 'keys.json');
    writeFileSync(keysFile, JSON.stringify(FIXTURE.jwks), { mode: 0o600 });
    // The one-app deployment's mini-program stays the first app; a second mini-program comes along.
    h = await startHarness({
      apps: [
        { appid: FIXTURE.appid, kind: 'miniprogram', name: 'Shop' },
        { kind: 'miniprogram', name: 'Service' },
      ],
      env: { JWT_SIGNING_KEYS_FILE: keysFile, JWT_ISSUER: FIXTURE.issuer },
    });
    second = h.emulator.apps[1]!.appid;
    h.clock.set(FIXTURE.writtenAtMs + 60_000);
    const redis = h.redis!.client;
    for (const entry of FIXTURE.keys) {
      const key = `${h.redis!.prefix}${entry.key}`;
      if (entry.type === 'string') await redis.set(key, Buffer.from(entry.value, 'hex'));
      else if (entry.type === 'hash') {
        for (const [field, value] of Object.entries(entry.value))
          await redis.hset(key, field, Buffer.from(value, 'hex'));
      } else
        await redis.zadd(
          key,
          ...entry.value.flatMap((v, i) => (i % 2 === 0 ? [entry.value[i + 1]!, v] : [])),
        );
      // Every key but the user record had a TTL; a day is plenty for the test.
      if (entry.pttl > 0) await redis.pexpire(key, 86_400_000);
    }
    h.emulator.createUser({ openid: alice.openid, ...(alice.unionid ? { unionid: alice.unionid } : {}) });
    h.emulator.createUser({ openid: bob.openid });
  });

  afterEach(async () => {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('accepts the access tokens the previous version issued until they expire', async () => {
    const me = await h.http.get('/auth/me').set(bearer(alice.access_token)).expect(200);
    expect(me.body.openid).to.equal(alice.openid);
    h.clock.set(decodeJwt(alice.access_token).exp! * 1000);
    await h.http.get('/auth/me').set(bearer(alice.access_token)).expect(401);
  });

  it("refreshes the previous version's sessions as the first mini-program's, and lists them", async () => {
    const refreshed = await h.http
      .post('/auth/refresh')
      .send({ refresh_token: alice.refresh_tokens[0] })
      .expect(200);
    expect(decodeJwt(refreshed.body.access_token)).to.include({
      client_id: FIXTURE.appid,
      sub: alice.openid,
    });
    expect(refreshed.body.unionid).to.equal(alice.unionid);

    const listed = await h.http.get('/auth/sessions').set(bearer(refreshed.body.access_token)).expect(200);
    expect(listed.body.sessions.map((s: { device: string | null }) => s.device)).to.deep.equal([
      null,
      'iPhone 15',
    ]);
    for (const session of listed.body.sessions)
      expect(session.app).to.deep.equal({ appid: FIXTURE.appid, name: 'Shop', kind: 'miniprogram' });

    const bobs = await h.http
      .post('/auth/refresh')
      .send({ refresh_token: bob.refresh_tokens[0] })
      .expect(200);
    expect(bobs.body).not.to.have.property('unionid');
    const bobListed = await h.http.get('/auth/sessions').set(bearer(bobs.body.access_token)).expect(200);
    expect(bobListed.body.sessions).to.have.length(1);
    expect(bobListed.body.sessions[0].device).to.equal('Pixel 8');
  });

  it('logs the previous version’s users in again as known users, and links them to their other apps', async () => {
    const again = await h.login(alice.openid, FIXTURE.appid);
    expect(again.is_new_user).to.equal(false);
    expect(again.unionid).to.equal(alice.unionid);
    const viaSecond = await h.login(alice.openid, second);
    expect(viaSecond.is_new_user).to.equal(true);
    expect(viaSecond.unionid).to.equal(alice.unionid);

    // From the new app: the person's sessions in both apps, the previous version's included.
    const listed = await h.http.get('/auth/sessions').set(bearer(viaSecond.access_token)).expect(200);
    expect(listed.body.sessions).to.have.length(4);
    await h.http.post('/auth/logout').set(bearer(viaSecond.access_token)).send({ all: true }).expect(204);
    for (const token of alice.refresh_tokens)
      await h.http.post('/auth/refresh').send({ refresh_token: token }).expect(400);
    await h.http.get('/auth/me').set(bearer(alice.access_token)).expect(401);
    // Bob is another person.
    await h.http.post('/auth/refresh').send({ refresh_token: bob.refresh_tokens[0] }).expect(200);
  });

  it('links a previous-version identity at its first refresh, before it ever logs in again', async () => {
    const viaSecond = await h.login(alice.openid, second);
    // Not yet linked: the old identity never logged in since the upgrade.
    expect(await h.store.personIdentities(alice.unionid!)).to.have.length(1);
    await h.http.post('/auth/refresh').send({ refresh_token: alice.refresh_tokens[1] }).expect(200);
    expect((await h.store.personIdentities(alice.unionid!)).map((i) => i.openid).sort()).to.deep.equal(
      [alice.openid, viaSecond.openid].sort(),
    );
    const listed = await h.http.get('/auth/sessions').set(bearer(viaSecond.access_token)).expect(200);
    expect(listed.body.sessions).to.have.length(3);
  });

  it('links the previous version’s identities at the next start, so a new app’s logout everywhere and deletion reach them at once', async () => {
    // The keys arrived after this instance started (and made its pass): as an upgrade, where the new
    // version's instances start on the old data. The mark of that pass goes, and an instance starts.
    await h.redis!.client.del(`${h.redis!.prefix}lock:persons-linked`);
    const next = await startHarness({
      peer: h,
      apps: [
        { appid: FIXTURE.appid, kind: 'miniprogram', name: 'Shop' },
        { kind: 'miniprogram', name: 'Service' },
      ],
      env: { JWT_SIGNING_KEYS_FILE: join(dir, 'keys.json'), JWT_ISSUER: FIXTURE.issuer },
    });
    try {
      const deadline = Date.now() + 5000;
      while ((await h.store.personIdentities(alice.unionid!)).length === 0 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await h.store.personIdentities(alice.unionid!)).to.deep.equal([
        { openid: alice.openid, appid: undefined },
      ]);
      const viaSecond = await h.login(alice.openid, second);
      const listed = await h.http.get('/auth/sessions').set(bearer(viaSecond.access_token)).expect(200);
      expect(listed.body.sessions).to.have.length(3);
      await h.http.delete('/auth/account').set(bearer(viaSecond.access_token)).expect(204);
      await h.http.get('/auth/me').set(bearer(alice.access_token)).expect(401);
      for (const token of alice.refresh_tokens)
        await h.http.post('/auth/refresh').send({ refresh_token: token }).expect(400);
      expect(await h.store.getAccount(alice.openid)).to.equal(null);
      await h.http.post('/auth/refresh').send({ refresh_token: bob.refresh_tokens[0] }).expect(200);
    } finally {
      await next.close();
    }
  });
});
