import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { expect } from 'chai';
import { Cluster, Redis } from 'ioredis';
import { createAtRestCipher, parseAtRestKeys } from '../../src/crypto/index.js';
import { TemporarilyUnavailable } from '../../src/errors/index.js';
import { appKeys, connectRedis, RedisStore, userKeys } from '../../src/store/index.js';
import { DEFAULT_REVOCATION_WINDOW_MS } from '../../src/store/revocation-feed.js';
import { hashRefreshToken, parseRefreshToken } from '../../src/tokens/index.js';
import { newSuccessorSeed, successorOf } from '../../src/tokens/refresh-token.js';
import { freshPrefix, type RedisServer, startRedisServer, testRedis } from '../setup/hooks.js';
import { rawCommand, until } from '../setup/redis.js';
import { PREVIOUS_VERSION } from '../tokens/previous-version.js';
import { describeStoreContract, familyId, login, refreshToken, rotation, T0, watch } from './contract.js';

/** A client as the service makes it, once it is ready (commands before that fail fast by design). */
async function connect(url: string): Promise<Redis> {
  const client = connectRedis({ url, onError: () => {} }) as Redis;
  if (client.status !== 'ready') await once(client, 'ready');
  return client;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/** Redis Cluster's key slot (CRC16/XMODEM of the hash tag, mod 16384), as CLUSTER KEYSLOT would answer. */
function keySlot(key: string): number {
  const open = key.indexOf('{');
  const close = open === -1 ? -1 : key.indexOf('}', open + 1);
  const hashed = close > open + 1 ? key.slice(open + 1, close) : key;
  let crc = 0;
  for (const byte of Buffer.from(hashed)) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit += 1)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys.sort();
}

describeStoreContract('RedisStore', async () => {
  const server = await testRedis();
  const prefix = freshPrefix();
  const store = new RedisStore(await connect(server.url), { prefix });
  return {
    store,
    cleanup: () => store.close(),
    peer: async () => new RedisStore(await connect(server.url), { prefix }),
  };
});

describe('RedisStore', () => {
  let server: RedisServer;
  let admin: Redis;
  let prefix: string;
  let store: RedisStore;

  beforeEach(async () => {
    server = await testRedis();
    admin = await connect(server.url);
    prefix = freshPrefix();
    store = new RedisStore(await connect(server.url), { prefix });
  });

  afterEach(async () => {
    await store.close();
    await admin.quit();
  });

  /** One login with a unionid and one rotation: every key and field a session has. */
  async function session() {
    const opened = login({ unionid: 'oUnion0123456789abcdefghijkl', familyId: familyId() });
    await store.recordLogin(opened);
    // The largest successor seed that keeps the family compact: 48 bytes (a 32-byte token and a 16-byte
    // tag, under a key used once so the nonce can be fixed).
    const rotated = rotation(opened, opened.tokenHash, { successorSeed: randomBytes(48) });
    await store.rotateRefresh(rotated);
    return { opened, rotated, keys: userKeys(prefix, opened.openid) };
  }

  it('gives every key a TTL relative to the caller clock, except the user record, which has none', async () => {
    const { keys } = await session();
    const found = await keysUnder(admin, prefix);
    expect(found).to.have.length(3);
    for (const key of found) {
      const ttl = await admin.pttl(key);
      if (key === keys.user) expect(ttl, key).to.equal(-1);
      // The caller's clock says 2001: TTLs are still the refresh lifetime, not "already past".
      else expect(ttl, key).to.be.within(3_590_000, 3_600_000);
    }
  });

  it('keeps all keys of one user in one Cluster slot, under the {openid} hash tag', async () => {
    expect(keySlot('123456789')).to.equal(12739); // the Cluster specification's test vector
    const { opened } = await session();
    const found = await keysUnder(admin, prefix);
    for (const key of found) expect(key.startsWith(`${prefix}{${opened.openid}}:`), key).to.equal(true);
    expect(new Set(found.map(keySlot)).size).to.equal(1);
  });

  it('stores only token hashes and the successor seed, packed in one string with integer timestamps', async () => {
    const opened = login({ familyId: familyId(), absoluteTtlS: 7200 });
    const tokens = [refreshToken(), refreshToken()];
    await store.recordLogin({ ...opened, tokenHash: tokens[0]!.hash });
    const keys = userKeys(prefix, opened.openid);
    const times = (family: Buffer) => [1, 7, 13, 19].map((at) => family.readIntBE(at, 6));
    // 1 (layout) | exp | abs | rot (-1: never) | crt (6 bytes each) | dlen 0 | cur
    const fresh = (await admin.getBuffer(keys.family(opened.familyId)))!;
    expect(fresh).to.have.length(58);
    expect(fresh[0]).to.equal(1);
    expect(times(fresh)).to.deep.equal([T0 + 3_600_000, T0 + 7_200_000, -1, T0]);
    expect(fresh[25]).to.equal(0);
    expect(fresh.subarray(26)).to.deep.equal(tokens[0]!.hash);

    const successorSeed = randomBytes(60);
    await store.rotateRefresh({
      ...rotation(opened, tokens[0]!.hash),
      nextHash: tokens[1]!.hash,
      successorSeed,
      nowMs: T0 + 1000,
    });
    // 1 | exp | abs | rot | crt | dlen | cur | prev | succ (0, then its bytes)
    const rotated = (await admin.getBuffer(keys.family(opened.familyId)))!;
    expect(times(rotated)).to.deep.equal([T0 + 1000 + 3_600_000, T0 + 7_200_000, T0 + 1000, T0]);
    expect(rotated.subarray(26, 58)).to.deep.equal(tokens[1]!.hash);
    expect(rotated.subarray(58, 90)).to.deep.equal(tokens[0]!.hash);
    expect(rotated.subarray(90)).to.deep.equal(Buffer.concat([Buffer.of(0), successorSeed]));

    expect(await admin.hgetall(keys.user)).to.deep.equal({
      f: String(T0),
      l: String(T0),
      k: opened.sessionKey,
    });
    expect(await admin.zrange(keys.sessions, 0, -1)).to.deep.equal([opened.familyId]);
    const everything = JSON.stringify(
      await Promise.all((await keysUnder(admin, prefix)).map((key) => admin.dump(key))),
    );
    for (const { token } of tokens) expect(everything).not.to.include(token);
  });

  it('refuses a token hash that is not a 32-byte digest as a bug, writing nothing', async () => {
    const short = randomBytes(31);
    const opened = login({ tokenHash: short });
    const keys = userKeys(prefix, opened.openid);
    for (const refused of [
      () => store.recordLogin(opened),
      () => store.rotateRefresh(rotation(opened, refreshToken().hash, { nextHash: short })),
      () => store.rotateRefresh(rotation(opened, Buffer.concat([refreshToken().hash, Buffer.of(0)]))),
      () => store.endFamily(opened.openid, opened.familyId, Buffer.alloc(0)),
    ]) {
      const error = await rejection(refused());
      expect(error).to.be.instanceOf(RangeError).and.not.to.be.instanceOf(TemporarilyUnavailable);
    }
    expect(await admin.exists(keys.user, keys.sessions, keys.family(opened.familyId))).to.equal(0);
  });

  it("reads a family the previous version rotated (raw digests, a 0-tagged seed) and rebuilds that version's successor", async () => {
    const { openid, familyId: id, token, seed, successor } = PREVIOUS_VERSION;
    const opened = login({ openid, familyId: id, tokenHash: hashRefreshToken(token) });
    await store.recordLogin(opened);
    // As that version left it after rotating `token` at T0 + 1000 (layout 1, see FAMILY in scripts.ts).
    const header = Buffer.alloc(26);
    header[0] = 1;
    for (const [at, ms] of [T0 + 1000 + 3_600_000, -1, T0 + 1000, T0].entries())
      header.writeIntBE(ms, 1 + 6 * at, 6);
    const family = userKeys(prefix, openid).family(id);
    const digestOf = (hash: string) => Buffer.from(hash, 'base64url');
    const stored = [digestOf(PREVIOUS_VERSION.successorHash), digestOf(PREVIOUS_VERSION.tokenHash)];
    await admin.set(family, Buffer.concat([header, ...stored, Buffer.of(0), seed]), 'PX', 3_600_000);

    const retried = await store.rotateRefresh(
      rotation(opened, hashRefreshToken(token), { nowMs: T0 + 2000 }),
    );
    expect(retried).to.deep.equal({ kind: 'grace', successorSeed: seed, expiresAtMs: T0 + 3_601_000 });
    const rebuilt = successorOf({ ...parseRefreshToken(token)!, token }, seed);
    expect(rebuilt.token).to.equal(successor);
    expect((await store.rotateRefresh(rotation(opened, rebuilt.hash, { nowMs: T0 + 3000 }))).kind).to.equal(
      'rotated',
    );
  });

  it('answers the bytes after the tag of a seed kept as UTF-8 (tag 1, written for strings that were not base64url)', async () => {
    const opened = login();
    await store.recordLogin(opened);
    const first = rotation(opened, opened.tokenHash, { nowMs: T0 + 1000 });
    await store.rotateRefresh(first);
    const family = userKeys(prefix, opened.openid).family(opened.familyId);
    // The family up to its seed (no device: 90 bytes), then the seed as a string that was not base64url.
    const kept = (await admin.getBuffer(family))!;
    const text = Buffer.from('sealed:not base64url ✓', 'utf8');
    await admin.set(family, Buffer.concat([kept.subarray(0, 90), Buffer.of(1), text]), 'PX', 3_600_000);
    expect(
      await store.rotateRefresh(rotation(opened, opened.tokenHash, { nowMs: T0 + 2000 })),
    ).to.deep.include({ kind: 'grace', successorSeed: text });
  });

  it('keeps a rotated family within 250 bytes of Redis memory, and the family index compact', async () => {
    const opened = login();
    await store.recordLogin(opened);
    // A seed as the service makes it: 32 random bytes.
    await store.rotateRefresh(rotation(opened, opened.tokenHash, { successorSeed: newSuccessorSeed() }));
    const keys = userKeys(prefix, opened.openid);
    const family = keys.family(opened.familyId);
    expect(await admin.strlen(family)).to.equal(123);
    expect(await admin.object('ENCODING', keys.sessions)).to.equal('listpack');
    expect(await admin.memory('USAGE', family)).to.be.at.most(250);
  });

  it('keeps the device as its UTF-8 after the header, up to 255 bytes, and a family with a phone-sized one within 300 bytes', async () => {
    const device = 'iPhone 15 Pro; iOS 17.4.1; WeChat 8.0.47';
    const opened = login({ device });
    await store.recordLogin(opened);
    await store.rotateRefresh(rotation(opened, opened.tokenHash, { successorSeed: newSuccessorSeed() }));
    const family = userKeys(prefix, opened.openid).family(opened.familyId);
    const stored = (await admin.getBuffer(family))!;
    expect(stored[25]).to.equal(device.length);
    expect(stored.subarray(26, 26 + device.length).toString()).to.equal(device);
    expect(stored).to.have.length(123 + device.length);
    expect(await admin.memory('USAGE', family)).to.be.at.most(300);

    // 64 four-byte characters: 256 bytes, cut at the last whole character.
    const long = login({ device: '😀'.repeat(64) });
    await store.recordLogin(long);
    expect((await store.listSessions(long.openid, T0))[0]?.device).to.equal('😀'.repeat(63));
  });

  it('reads a family written before families had a login time and a device, and rewrites it at its next rotation', async () => {
    const opened = login();
    await store.recordLogin(opened);
    const keys = userKeys(prefix, opened.openid);
    // Layout 0: exp | abs | rot (8 bytes each) | cur
    const old = Buffer.alloc(24);
    old.writeBigInt64BE(BigInt(T0 + 3_600_000), 0);
    old.writeBigInt64BE(-1n, 8);
    old.writeBigInt64BE(-1n, 16);
    await admin.set(keys.family(opened.familyId), Buffer.concat([old, opened.tokenHash]));
    expect(await store.listSessions(opened.openid, T0)).to.deep.equal([
      {
        id: opened.familyId,
        createdAtMs: undefined,
        refreshedAtMs: undefined,
        expiresAtMs: T0 + 3_600_000,
        device: undefined,
      },
    ]);
    const first = rotation(opened, opened.tokenHash, { nowMs: T0 + 1000 });
    expect((await store.rotateRefresh(first)).kind).to.equal('rotated');
    expect((await admin.getBuffer(keys.family(opened.familyId)))![0]).to.equal(1);
    expect(
      (await store.rotateRefresh(rotation(opened, opened.tokenHash, { nowMs: T0 + 2000 }))).kind,
    ).to.equal('grace');
    expect(await store.endFamily(opened.openid, opened.familyId, first.nextHash)).to.equal(true);
  });

  it('keeps a user record with a sealed session_key and a unionid as a compact hash of at most 216 bytes', async () => {
    const cipher = createAtRestCipher(parseAtRestKeys(`20261123:${randomBytes(32).toString('base64')}`));
    const openid = `o${randomBytes(20).toString('base64url')}`.slice(0, 28);
    const sealed = cipher.seal(randomBytes(16).toString('base64'), openid);
    const opened = login({
      openid,
      sessionKey: sealed,
      unionid: `oUnion${randomBytes(16).toString('base64url')}`.slice(0, 28),
    });
    await store.recordLogin(opened);
    expect(await store.getUser(opened.openid)).to.include({ sessionKey: sealed, unionid: opened.unionid });
    const key = userKeys(prefix, opened.openid).user;
    expect(await admin.type(key)).to.equal('hash');
    expect(await admin.object('ENCODING', key)).to.equal('listpack');
    expect(await admin.memory('USAGE', key)).to.be.at.most(216);
  });

  it('keeps any session_key that is not sealed exactly as given', async () => {
    for (const sessionKey of ['v1.kid.not base64', 'v1.kid.QUJD', '\u0000odd', '\u0000', 'plain text ✓']) {
      const opened = login({ sessionKey });
      await store.recordLogin(opened);
      expect((await store.getUser(opened.openid))?.sessionKey).to.equal(sessionKey);
    }
  });

  it('reads the session_key of a record the previous version wrote: sealed as bytes, escaped, or as given', async () => {
    const payload = randomBytes(45);
    for (const [stored, sessionKey] of [
      [
        Buffer.concat([Buffer.of(0, 8), Buffer.from('20261123'), payload]),
        `v1.20261123.${payload.toString('base64url')}`,
      ],
      // Escaped: 0, 255, then the value's UTF-8, its own 0 byte included.
      [Buffer.from('\u0000\u00ff\u0000odd', 'latin1'), '\u0000odd'],
      [Buffer.from('tiihtNczf5v6AKRyjwEUhQ=='), 'tiihtNczf5v6AKRyjwEUhQ=='],
    ] as const) {
      const opened = login();
      await store.recordLogin(opened);
      await admin.hset(userKeys(prefix, opened.openid).user, 'k', stored);
      expect((await store.getUser(opened.openid))?.sessionKey).to.equal(sessionKey);
    }
  });

  it('sends Redis exactly one command per method', async () => {
    const opened = login();
    const sent = async (run: () => Promise<unknown>) => {
      const log = await server.monitor();
      await run();
      // TIME is the store's own clock sync, on a timer of its own, not part of any method.
      return (await log.stop()).filter((name) => name !== 'time');
    };
    // The first script call on a connection is an EVAL that loads it; later ones are EVALSHA.
    expect(await sent(() => store.recordLogin(opened)), 'recordLogin').to.deep.equal(['eval']);
    expect(await sent(() => store.getUser(opened.openid)), 'getUser').to.deep.equal(['hmget']);
    const first = rotation(opened, opened.tokenHash);
    expect(await sent(() => store.rotateRefresh(first)), 'rotateRefresh').to.deep.equal(['eval']);
    const retried = rotation(opened, opened.tokenHash);
    expect(await sent(() => store.rotateRefresh(retried)), 'rotateRefresh again').to.deep.equal(['evalsha']);
    // An ending is three: the script on the user's keys, the app-wide revocation log, then the user's
    // revoked set emptied of what was logged.
    const end = () => store.endFamily(opened.openid, opened.familyId, first.nextHash);
    expect(await sent(end), 'endFamily').to.deep.equal(['eval', 'eval', 'zrem']);
    const second = login({ openid: opened.openid });
    await store.recordLogin(second);
    expect(await sent(() => store.endAllFamilies(opened.openid)), 'endAllFamilies').to.deep.equal([
      'eval',
      'evalsha',
      'zrem',
    ]);
    // One that ends nothing, with nothing waiting to be logged: the script alone.
    expect(await sent(() => store.endAllFamilies(opened.openid)), 'endAllFamilies again').to.deep.equal([
      'evalsha',
    ]);
    expect(await sent(() => store.ping()), 'ping').to.deep.equal(['set']);
  });

  it('keeps the WeChat access_token and locks in app-wide keys, each with a TTL', async () => {
    const keys = appKeys(prefix);
    // The caller's clock says 2001: the TTL is still the token's remaining life.
    await store.putWechatAccessToken('token-1', T0 + 7_000_000, T0);
    await store.acquireLock('wechat-access-token', 'owner', 15_000);
    expect(await keysUnder(admin, prefix)).to.deep.equal([
      keys.lock('wechat-access-token'),
      keys.wechatAccessToken(undefined),
    ]);
    expect(await admin.pttl(keys.wechatAccessToken(undefined))).to.be.within(6_990_000, 7_000_000);
    expect(await admin.pttl(keys.lock('wechat-access-token'))).to.be.within(14_000, 15_000);
    expect(await admin.get(keys.wechatAccessToken(undefined))).to.equal(`${T0 + 7_000_000}:token-1`);
  });

  it('sends Redis exactly one command per access-token and lock method', async () => {
    const sent = async (run: () => Promise<unknown>) => {
      const log = await server.monitor();
      await run();
      return log.stop();
    };
    expect(await sent(() => store.putWechatAccessToken('t', T0 + 60_000, T0)), 'put').to.deep.equal(['set']);
    expect(await sent(() => store.getWechatAccessToken(T0)), 'get').to.deep.equal(['get']);
    const invalidate = () => store.invalidateWechatAccessToken('t');
    expect(await sent(invalidate), 'invalidate').to.deep.equal(['eval']);
    expect(await sent(() => store.acquireLock('l', 'o', 1000)), 'acquireLock').to.deep.equal(['eval']);
    expect(await sent(() => store.releaseLock('l', 'o')), 'releaseLock').to.deep.equal(['eval']);
  });

  it("drops expired families from the user's sessions at the next login", async () => {
    const first = login({ refreshTtlS: 60 });
    await store.recordLogin(first);
    const keys = userKeys(prefix, first.openid);
    const second = login({ openid: first.openid, nowMs: T0 + 61_000 });
    await store.recordLogin(second);
    expect(await admin.zrange(keys.sessions, 0, -1)).to.deep.equal([second.familyId]);
  });

  it('at the session cap, forgets families whose key Redis evicted before it ends a live one', async () => {
    const first = login({ maxSessions: 2 });
    await store.recordLogin(first);
    const second = login({ openid: first.openid, maxSessions: 2 });
    await store.recordLogin(second);
    const keys = userKeys(prefix, first.openid);
    // As a maxmemory policy would.
    await admin.del(keys.family(first.familyId));
    const third = login({ openid: first.openid, maxSessions: 2 });
    expect(await store.recordLogin(third)).to.deep.equal({
      isNewUser: false,
      sessionsEnded: 0,
      unlinked: false,
    });
    expect((await admin.zrange(keys.sessions, 0, -1)).sort()).to.deep.equal(
      [second.familyId, third.familyId].sort(),
    );
  });

  it("keeps the user's family index alive as long as its longest family", async () => {
    const long = login({ refreshTtlS: 7200 });
    await store.recordLogin(long);
    await store.recordLogin(login({ openid: long.openid, refreshTtlS: 60 }));
    const keys = userKeys(prefix, long.openid);
    expect(await admin.pttl(keys.sessions)).to.be.within(7_190_000, 7_200_000);
  });

  it('refuses a foreign value under one of its keys as unavailable, before writing anything', async () => {
    const opened = login();
    const keys = userKeys(prefix, opened.openid);
    await admin.set(keys.sessions, 'not a sorted set');
    const error = await rejection(store.recordLogin(opened));
    expect(error).to.be.instanceOf(TemporarilyUnavailable);
    expect(String((error as Error).cause)).to.match(/WRONGTYPE/);
    expect(await admin.exists(keys.user, keys.family(opened.familyId))).to.equal(0);
  });

  it('deletes every key of a user but the ban, and logs each family it ended', async () => {
    const opened = login({ unionid: 'oUnion-gone', device: 'Pixel 8; Android 14; WeChat 8.0.48' });
    await store.recordLogin(opened);
    const second = login({ openid: opened.openid });
    await store.recordLogin(second);
    await store.rotateRefresh(rotation(opened, opened.tokenHash));
    await store.endSession(opened.openid, second.familyId, T0);
    await store.banUser(opened.openid, { reason: 'abuse' }, T0);
    // The user record and the ban: what was ended is logged, so nothing waits in the revoked set.
    expect((await keysUnder(admin, prefix)).filter((key) => key.includes(opened.openid))).to.have.length(2);

    await store.deleteUser(opened.openid);
    const left = (await keysUnder(admin, prefix)).filter((key) => key.includes(opened.openid));
    expect(left).to.deep.equal([userKeys(prefix, opened.openid).ban]);
    const logged = await admin.zrange(appKeys(prefix).revocationLog, 0, -1);
    expect(logged).to.include.members([opened.familyId, second.familyId]);
  });

  it('keeps the revocation log within the window, with a TTL, and no ended family of a user once logged', async () => {
    const watcher = watch(store, 2000);
    await watcher.told([]);
    const log = appKeys(prefix).revocationLog;
    const first = login();
    await store.recordLogin(first);
    await store.endAllFamilies(first.openid);
    const revoked = userKeys(prefix, first.openid).revoked;
    expect(await admin.pttl(log)).to.be.within(1000, 2000);
    expect(await admin.exists(revoked)).to.equal(0);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const second = login();
    await store.recordLogin(second);
    await store.endAllFamilies(second.openid);
    // The first was logged more than a window ago: every token it refused has expired.
    expect(await admin.zrange(log, 0, -1)).to.deep.equal([second.familyId]);
    expect(await admin.exists(revoked)).to.equal(0);
  });

  it('answers 503 when it cannot log an ending, which stands, and its retry logs it', async () => {
    const opened = login();
    await store.recordLogin(opened);
    const log = appKeys(prefix).revocationLog;
    await admin.set(log, 'a foreign value');
    const error = await rejection(store.endSession(opened.openid, opened.familyId, T0));
    expect(error).to.be.instanceOf(TemporarilyUnavailable);
    expect(await store.listSessions(opened.openid, T0)).to.deep.equal([]);
    // Kept for the user's next ending, for the revocation window at most.
    const revoked = userKeys(prefix, opened.openid).revoked;
    expect(await admin.zrange(revoked, 0, -1)).to.deep.equal([opened.familyId]);
    expect(await admin.pttl(revoked)).to.be.within(1, DEFAULT_REVOCATION_WINDOW_MS);
    await admin.del(log);
    // The retry finds the session ended and ends nothing, but logs what was ended.
    expect(await store.endSession(opened.openid, opened.familyId, T0)).to.equal(false);
    expect(await admin.zrange(log, 0, -1)).to.deep.equal([opened.familyId]);
  });

  it('logs an ending whose log write failed by itself once the log takes writes, and forgets it on the user', async () => {
    const opened = login();
    await store.recordLogin(opened);
    const log = appKeys(prefix).revocationLog;
    const revoked = userKeys(prefix, opened.openid).revoked;
    await admin.set(log, 'a foreign value');
    try {
      await rejection(store.endSession(opened.openid, opened.familyId, T0));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await admin.zrange(revoked, 0, -1), 'waiting on the user').to.deep.equal([opened.familyId]);
    } finally {
      await admin.del(log);
    }
    await until('the ending logged', 5000, async () => (await admin.zscore(log, opened.familyId)) !== null);
    await until('the user forgets it', 5000, async () => (await admin.exists(revoked)) === 0);
  });

  it('logs, as it closes, an ending whose log write failed and whose retry has not come yet', async () => {
    const opened = login();
    await store.recordLogin(opened);
    const log = appKeys(prefix).revocationLog;
    await admin.set(log, 'a foreign value');
    await rejection(store.endSession(opened.openid, opened.familyId, T0));
    await admin.del(log);
    // At once, before the background retry: the store's last try logs it.
    await store.close();
    expect(await admin.zscore(log, opened.familyId)).not.to.equal(null);
    expect(await admin.exists(userKeys(prefix, opened.openid).revoked)).to.equal(0);
  });

  it('logs an ending that Redis ran after its caller had given up (answered 503), without another call', async function () {
    this.timeout(10_000);
    const opened = login();
    await store.recordLogin(opened);
    const log = appKeys(prefix).revocationLog;
    // Writes wait 1.5 s: past the caller's 1 s command timeout, within the script's deadline.
    await admin.call('CLIENT', 'PAUSE', '1500', 'WRITE');
    const error = await rejection(store.endSession(opened.openid, opened.familyId, T0));
    expect(error).to.be.instanceOf(TemporarilyUnavailable);
    await until(
      'the late ending logged',
      6000,
      async () => (await admin.zscore(log, opened.familyId)) !== null,
    );
    expect(await admin.exists(userKeys(prefix, opened.openid).family(opened.familyId)), 'ended').to.equal(0);
  });

  it('tells a watcher of every entry of a log read in pages, many of them logged in the same millisecond', async () => {
    const log = appKeys(prefix).revocationLog;
    const now = Number((await admin.time())[0]) * 1000;
    const ids: string[] = [];
    const batch = admin.pipeline();
    // More than two reads' worth in one millisecond, between two others.
    batch.zadd(log, now - 2, 'before');
    for (let i = 0; i < 12_000; i += 1) {
      ids.push(`same${String(i).padStart(12, '0')}`);
      batch.zadd(log, now - 1, ids[i]!);
    }
    batch.zadd(log, now, 'after');
    await batch.exec();
    const watcher = watch(store);
    await watcher.told(['before', ...ids, 'after'], 5000);
  });

  describe('revocations across a lost connection', () => {
    let lonely: RedisServer;
    const stores: RedisStore[] = [];
    const storeOn = async (prefix: string) => {
      const made = new RedisStore(await connect(lonely.url), { prefix });
      stores.push(made);
      return made;
    };

    beforeEach(async () => {
      lonely = await startRedisServer();
    });

    afterEach(async () => {
      for (const each of stores.splice(0)) await each.close();
      await lonely.stop();
    });

    it('catches up from the log when its subscription was cut while another instance ended a session', async () => {
      const shared = freshPrefix();
      const [ending, watching] = [await storeOn(shared), await storeOn(shared)];
      const watcher = watch(watching);
      await watcher.told([]);
      const opened = login();
      await ending.recordLogin(opened);

      // Only the watching store subscribes here: this cuts its subscription alone.
      expect(await rawCommand(lonely.port, ['CLIENT', 'KILL', 'TYPE', 'pubsub'])).to.equal('1');
      // Sent while it is not subscribed (it reconnects after 100 ms): only the log can tell it.
      await ending.endSession(opened.openid, opened.familyId, T0);
      await watcher.told([opened.familyId], 2000);
      expect(watcher.states.join(' ')).to.match(/live blind (catching_up )+live$/);
    });

    it('after a Redis restart, hears of endings again, catching up on those logged before it resubscribed', async () => {
      const shared = freshPrefix();
      const watching = await storeOn(shared);
      const watcher = watch(watching);
      await watcher.told([]);
      await lonely.restart();
      // Another instance, back first, ends a session (the restarted Redis is empty: a new login).
      const ending = await storeOn(shared);
      const opened = login();
      await ending.recordLogin(opened);
      await ending.endSession(opened.openid, opened.familyId, T0);
      await watcher.told([opened.familyId], 3000);
      expect(watcher.states).to.include('blind');
      const later = login();
      await ending.recordLogin(later);
      await ending.endSession(later.openid, later.familyId, T0);
      await watcher.told([later.familyId], 1000);
    });
  });

  describe('during an outage', () => {
    let lonely: RedisServer;
    let outageStore: RedisStore;

    beforeEach(async () => {
      lonely = await startRedisServer();
      outageStore = new RedisStore(await connect(lonely.url), { prefix: freshPrefix() });
      await outageStore.recordLogin(login());
    });

    afterEach(async () => {
      await outageStore.close();
      await lonely.stop();
    });

    async function expectUnavailableWithin(ms: number, call: () => Promise<unknown>): Promise<void> {
      const started = Date.now();
      const error = await rejection(call());
      expect(Date.now() - started).to.be.below(ms);
      expect(error).to.be.instanceOf(TemporarilyUnavailable);
      expect(error).to.include({ status: 503, error: 'temporarily_unavailable' });
      expect((error as TemporarilyUnavailable).cause).to.be.instanceOf(Error);
    }

    it('throws TemporarilyUnavailable at once when the server is gone', async () => {
      await lonely.stop();
      await expectUnavailableWithin(1500, () => outageStore.recordLogin(login()));
      await expectUnavailableWithin(1500, () =>
        outageStore.rotateRefresh(rotation(login(), refreshToken().hash)),
      );
      await expectUnavailableWithin(1500, () => outageStore.getUser('someone'));
      await expectUnavailableWithin(1500, () => outageStore.ping());
    });

    it('throws TemporarilyUnavailable within 1.5 s when the server stops answering', async () => {
      await lonely.freeze();
      try {
        await expectUnavailableWithin(1500, () => outageStore.recordLogin(login()));
      } finally {
        await lonely.thaw();
      }
    });

    it('answers again by itself once the server is back, scripts included', async () => {
      await lonely.restart();
      const deadline = Date.now() + 5000;
      for (;;) {
        try {
          await outageStore.ping();
          break;
        } catch (error) {
          expect(error).to.be.instanceOf(TemporarilyUnavailable);
          if (Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      // The restarted server holds no scripts: the client loads them again by itself.
      expect(await outageStore.recordLogin(login())).to.deep.equal({
        isNewUser: true,
        sessionsEnded: 0,
        unlinked: false,
      });
    });
  });
});

describe('connectRedis', () => {
  it('fails fast: no offline queue, no retried command, a command timeout', async () => {
    const client = connectRedis({ url: 'redis://127.0.0.1:1', onError: () => {} }) as Redis;
    try {
      expect(client).to.be.instanceOf(Redis);
      expect(client.options).to.include({
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        commandTimeout: 1000,
      });
      expect(client.options.retryStrategy!(1_000_000)).to.be.a('number').at.most(2000);
    } finally {
      client.disconnect();
    }
  });

  it('builds a Cluster client from cluster seeds', async () => {
    const client = connectRedis({ clusterNodes: ['127.0.0.1:1', '127.0.0.1:2'], onError: () => {} });
    try {
      expect(client).to.be.instanceOf(Cluster);
    } finally {
      client.disconnect();
    }
  });

  it('builds a Sentinel client from sentinels and a master name', async () => {
    const client = connectRedis({
      sentinels: ['127.0.0.1:1'],
      sentinelName: 'mymaster',
      onError: () => {},
    }) as Redis;
    try {
      expect(client.options).to.deep.include({
        name: 'mymaster',
        sentinels: [{ host: '127.0.0.1', port: 1 }],
      });
    } finally {
      client.disconnect();
    }
  });

  it('refuses to guess when given nothing to connect to', () => {
    expect(() => connectRedis({})).to.throw(/url/);
  });
});
