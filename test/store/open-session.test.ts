import { once } from 'node:events';
import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { createAtRestCipher, parseAtRestKeys } from '../../src/crypto/index.js';
import { InvalidGrant } from '../../src/errors/index.js';
import { createLogger, ManualClock } from '../../src/lib/index.js';
import {
  connectRedis,
  EncryptingStore,
  MemoryStore,
  RedisStore,
  type SessionStore,
} from '../../src/store/index.js';
import {
  createAccessTokens,
  createSessions,
  generateEphemeralKeySet,
  type Sessions,
} from '../../src/tokens/index.js';
import { freshPrefix, testRedis } from '../setup/hooks.js';
import { login, T0 } from './contract.js';

/**
 * A session opened for a user by something other than a wx.login() code (the web login by scanning a
 * mini-program code): a family like any other, while the user's session_key, which only a code
 * exchange brings, stays as it was.
 */
const adapters: Array<[string, () => Promise<SessionStore>]> = [
  ['MemoryStore', async () => new MemoryStore()],
  [
    'RedisStore',
    async () => {
      const client = connectRedis({ url: (await testRedis()).url, onError: () => {} }) as Redis;
      await once(client, 'ready');
      return new RedisStore(client, { prefix: freshPrefix() });
    },
  ],
  [
    'EncryptingStore over RedisStore',
    async () => {
      const client = connectRedis({ url: (await testRedis()).url, onError: () => {} }) as Redis;
      await once(client, 'ready');
      const cipher = createAtRestCipher(parseAtRestKeys(`k1:${Buffer.alloc(32, 7).toString('base64')}`));
      return new EncryptingStore(new RedisStore(client, { prefix: freshPrefix() }), cipher);
    },
  ],
];

for (const [name, make] of adapters) {
  describe(`${name}: a session opened without a code (openSession)`, () => {
    let store: SessionStore;
    let sessions: Sessions;
    let clock: ManualClock;

    beforeEach(async () => {
      store = await make();
      clock = new ManualClock(T0);
      const access = createAccessTokens({
        keys: await generateEphemeralKeySet(),
        clock,
        issuer: 'wxauth',
        audience: 'wxauth',
        clientId: 'wx0123456789abcdef',
        ttlS: 900,
        clockToleranceS: 0,
      });
      sessions = createSessions({
        store,
        access,
        clock,
        logger: createLogger({ level: 'silent' }),
        policy: { refreshTtlS: 3600, refreshMaxLifetimeS: undefined, reuseGraceS: 10, maxSessions: 50 },
      });
    });
    afterEach(async () => {
      await store.close();
    });

    it("opens a family listed with its device, and keeps the user's session_key and unionid as they were", async () => {
      const phone = login({ unionid: 'uAlice', nowMs: T0 });
      await store.recordLogin(phone);
      clock.advance(1000);
      const tokens = await sessions.openSession({
        openid: phone.openid,
        device: 'Web · Chrome 120 on Windows',
        whileLive: phone.familyId,
      });
      expect(tokens).to.include({ openid: phone.openid, unionid: 'uAlice', token_type: 'Bearer' });
      expect(tokens).not.to.have.property('is_new_user');
      const user = await store.getUser(phone.openid);
      expect(user).to.include({ sessionKey: phone.sessionKey, unionid: 'uAlice' });
      const listed = await store.listSessions(phone.openid, clock.now());
      expect(listed.map((s) => s.device)).to.include('Web · Chrome 120 on Windows');
      expect(listed).to.have.length(2);
    });

    it('rotates like any session, and a reuse ends it', async () => {
      const phone = login({ nowMs: T0 });
      await store.recordLogin(phone);
      const web = (await sessions.openSession({
        openid: phone.openid,
        device: 'Web · Firefox 121 on Linux',
        whileLive: phone.familyId,
      }))!;
      clock.advance(20_000);
      const rotated = await sessions.refresh(web.refresh_token);
      expect(rotated.refresh_token).not.to.equal(web.refresh_token);
      clock.advance(20_000);
      let error: unknown;
      try {
        await sessions.refresh(web.refresh_token);
      } catch (thrown) {
        error = thrown;
      }
      expect(error).to.be.instanceOf(InvalidGrant);
      expect((await store.listSessions(phone.openid, clock.now())).map((s) => s.device)).to.deep.equal([
        undefined,
      ]);
    });

    it('opens nothing, and answers null, once the session it depends on has ended or expired', async () => {
      const phone = login({ nowMs: T0 });
      await store.recordLogin(phone);
      const other = login({ openid: phone.openid, nowMs: T0 });
      await store.recordLogin(other);
      await store.endSession(phone.openid, phone.familyId, T0);
      const web = { openid: phone.openid, device: 'Web · Chrome 120 on Windows' };
      expect(await sessions.openSession({ ...web, whileLive: phone.familyId })).to.equal(null);
      expect(await sessions.openSession({ ...web, whileLive: 'AAAAAAAAAAAAAAAA' })).to.equal(null);
      clock.advance(3600_000);
      expect(await sessions.openSession({ ...web, whileLive: other.familyId })).to.equal(null);
      expect(await store.listSessions(phone.openid, clock.now())).to.deep.equal([]);
    });

    it('makes no user record for a deleted user, whose family ended with it', async () => {
      const phone = login({ nowMs: T0 });
      await store.recordLogin(phone);
      await store.deleteUser(phone.openid);
      const web = { openid: phone.openid, device: 'Web · Chrome 120 on Windows', whileLive: phone.familyId };
      expect(await sessions.openSession(web)).to.equal(null);
      expect(await store.getAccount(phone.openid)).to.equal(null);
      expect(await store.listSessions(phone.openid, clock.now())).to.deep.equal([]);
    });

    it('answers null to a banned user (the ban ended the session it depends on) and opens nothing', async () => {
      const phone = login({ nowMs: T0 });
      await store.recordLogin(phone);
      await store.banUser(phone.openid, { reason: 'abuse' }, T0);
      const web = { openid: phone.openid, device: 'Web · Chrome 120 on Windows', whileLive: phone.familyId };
      expect(await sessions.openSession(web)).to.equal(null);
      expect(await store.listSessions(phone.openid, clock.now())).to.deep.equal([]);
    });
  });
}
