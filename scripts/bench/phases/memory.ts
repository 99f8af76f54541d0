import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Redis } from 'ioredis';
import { createAtRestCipher, parseAtRestKeys } from '../../../src/crypto/index.js';
import {
  connectRedis,
  EncryptingStore,
  RedisStore,
  type SessionStore,
  userKeys,
} from '../../../src/store/index.js';
import { hashRefreshToken, mintRefreshToken } from '../../../src/tokens/index.js';
import { startRedisServer } from '../../lib/spawn.js';
import { options } from '../options.js';
import { log, n, round } from '../util.js';
import type { PhaseResult, Subject } from './types.js';

async function usedMemory(admin: Redis): Promise<number> {
  return Number(/^used_memory:(\d+)/m.exec(await admin.info('memory'))![1]);
}

/** Mean MEMORY USAGE over up to 2,000 of `keys`. */
async function meanUsage(admin: Redis, keys: string[]): Promise<number> {
  const sample = keys.filter((_, i) => i % Math.max(1, Math.floor(keys.length / 2000)) === 0).slice(0, 2000);
  const pipeline = admin.pipeline();
  for (const key of sample) pipeline.memory('USAGE', key, 'SAMPLES', '0');
  const sizes = (await pipeline.exec())!.map(([, size]) => Number(size));
  return sizes.reduce((a, b) => a + b, 0) / sizes.length;
}

/** A 28-character openid like WeChat's. */
function openid(i: number): string {
  return `oBench${String(i).padStart(8, '0')}${Math.random().toString(36).slice(2, 16).padEnd(14, 'x')}`;
}

async function inBatches<T>(items: T[], run: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += 2000) await Promise.all(items.slice(i, i + 2000).map(run));
}

/**
 * Writes `options.records` users through the real store (Lua scripts included) into a Redis of its
 * own, each with one login and one rotation (a session's steady state), session_key sealed as in
 * production and a unionid; then a second session for each. Redis's own per-key overhead (dictionary
 * and expiry entries) is in the all-in figures (used_memory deltas), not in MEMORY USAGE.
 */
export async function memory({ bench }: Subject): Promise<PhaseResult> {
  const count = options.records;
  log(`Redis memory: ${count} users`);
  const server = await startRedisServer();
  const client = connectRedis({ url: server.url, commandTimeoutMs: 10_000 });
  const admin = connectRedis({ url: server.url, commandTimeoutMs: 10_000 }) as Redis;
  await Promise.all([once(client, 'ready'), once(admin, 'ready')]);
  // Named here rather than left to RedisStore's default, so the keys measured below are the ones written.
  const prefix = 'wxauth:';
  const redisStore = new RedisStore(client, { prefix });
  const store: SessionStore = new EncryptingStore(
    redisStore,
    createAtRestCipher(parseAtRestKeys(bench.atRestKeys)),
  );
  try {
    const now = Date.now();
    /** A login as the service writes it: WeChat's session_key is 16 random bytes, base64. */
    const loginOf = (id: string, minted: ReturnType<typeof mintRefreshToken>) => ({
      openid: id,
      sessionKey: randomBytes(16).toString('base64'),
      unionid: `oUnion${id.slice(6)}`,
      familyId: minted.familyId,
      tokenHash: minted.hash,
      nowMs: now,
      refreshTtlS: 2_592_000,
      maxSessions: 50,
    });
    const session = async (id: string) => {
      const minted = mintRefreshToken(id);
      await store.recordLogin(loginOf(id, minted));
      const seed = randomBytes(32);
      await store.rotateRefresh({
        openid: id,
        familyId: minted.familyId,
        presentedHash: minted.hash,
        nextHash: hashRefreshToken(`${minted.token}.next`),
        successorSeed: seed,
        nowMs: now + 1000,
        refreshTtlS: 2_592_000,
        graceS: 10,
      });
      return minted.familyId;
    };
    const ids = Array.from({ length: count }, (_, i) => openid(i));
    const m0 = await usedMemory(admin);
    const families = new Map<string, string>();
    await inBatches(ids, async (id) => {
      families.set(id, await session(id));
    });
    const m1 = await usedMemory(admin);
    // Keys as the store names them, of the families the logins above made.
    const keysOf = (id: string) => userKeys(prefix, id);
    const userRecordKeys = ids.map((id) => keysOf(id).user);
    const indexKeys = ids.map((id) => keysOf(id).sessions);
    const familyKeys = ids.slice(0, 2000).map((id) => keysOf(id).family(families.get(id)!));
    const figures = {
      userRecordBytes: await meanUsage(admin, userRecordKeys),
      sessionBytes: await meanUsage(admin, familyKeys),
      familyIndexBytes: await meanUsage(admin, indexKeys),
    };
    const encodings = {
      user: String(await admin.object('ENCODING', userRecordKeys[0]!)),
      session: String(await admin.object('ENCODING', familyKeys[0]!)),
      familyIndex: String(await admin.object('ENCODING', indexKeys[0]!)),
    };
    await inBatches(ids, session);
    const m2 = await usedMemory(admin);

    // The same user record with the session_key in clear (no SESSION_KEY_ENCRYPTION_KEYS).
    const clearIds = ids.slice(0, Math.min(2000, count)).map((id) => `${id.slice(0, 27)}c`);
    await inBatches(clearIds, (id) => redisStore.recordLogin(loginOf(id, mintRefreshToken(id))));
    const m = {
      users: count,
      userRecordBytes: round(figures.userRecordBytes),
      userRecordInClearBytes: round(
        await meanUsage(
          admin,
          clearIds.map((id) => keysOf(id).user),
        ),
      ),
      sessionBytes: round(figures.sessionBytes),
      familyIndexBytes: round(figures.familyIndexBytes),
      perUserWithOneSessionAllIn: round((m1 - m0) / count),
      perExtraSessionAllIn: round((m2 - m1) / count),
      encodings,
    };
    return {
      results: m,
      rows: [
        {
          measure: 'Redis bytes per user record (MEMORY USAGE)',
          result: `${m.userRecordBytes} (session_key sealed, as in production); ${m.userRecordInClearBytes} in clear`,
          target: 'userRecordBytes',
          value: m.userRecordBytes,
        },
        {
          measure: 'Redis bytes per session (MEMORY USAGE of its family)',
          result: `${m.sessionBytes}`,
          target: 'sessionBytes',
          value: m.sessionBytes,
        },
        {
          measure: 'Redis bytes all-in (used_memory)',
          result: `${n(m.perUserWithOneSessionAllIn)} per user with one session; ${n(m.perExtraSessionAllIn)} per further session`,
        },
      ],
    };
  } finally {
    await store.close();
    admin.disconnect();
    await server.stop();
  }
}
