import { once } from 'node:events';
import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { TemporarilyUnavailable } from '../../src/errors/index.js';
import { connectRedis, RedisStore } from '../../src/store/index.js';
import { freshPrefix } from '../setup/hooks.js';
import { type RedisSentinel, startRedisSentinel } from '../setup/sentinel.js';
import { describeStoreContract, login, rotation, T0, watch } from './contract.js';

/** A client as the service makes it from REDIS_SENTINELS and REDIS_SENTINEL_NAME, once it is ready. */
async function connect(sentinel: RedisSentinel): Promise<Redis> {
  const client = connectRedis({
    sentinels: sentinel.sentinels,
    sentinelName: sentinel.name,
    onError: () => {},
  }) as Redis;
  if (client.status !== 'ready') await once(client, 'ready');
  return client;
}

describe('behind Redis Sentinel (a master, its replica, one Sentinel)', function () {
  this.timeout(60_000);
  let sentinel: RedisSentinel;

  before(async () => {
    sentinel = await startRedisSentinel();
  });

  after(async () => {
    await sentinel?.stop();
  });

  describeStoreContract('RedisStore behind Sentinel', async () => {
    const prefix = freshPrefix();
    const store = new RedisStore(await connect(sentinel), { prefix });
    return {
      store,
      cleanup: () => store.close(),
      peer: async () => new RedisStore(await connect(sentinel), { prefix }),
    };
  });

  it('finds the master through the Sentinel, and the new one after a failover, sessions intact', async () => {
    const client = await connect(sentinel);
    const store = new RedisStore(client, { prefix: freshPrefix() });
    try {
      const servedBy = async () => Number(/^tcp_port:(\d+)/m.exec(await client.info('server'))?.[1]);
      expect(await servedBy()).to.equal(await sentinel.masterPort());
      const sessions = Array.from({ length: 20 }, () => login());
      for (const opened of sessions) await store.recordLogin(opened);
      // Replication is asynchronous: a failover keeps what the replica has (WAIT: every write so far).
      expect(await client.wait(1, 5000)).to.equal(1);

      const { to } = await sentinel.failover();
      const deadline = Date.now() + 20_000;
      for (const opened of sessions) {
        for (;;) {
          try {
            const outcome = await store.rotateRefresh(rotation(opened, opened.tokenHash));
            expect(outcome.kind, opened.openid).to.equal('rotated');
            break;
          } catch (error) {
            // Until the client has asked the Sentinel again (the old master answers writes READONLY).
            expect(error).to.be.instanceOf(TemporarilyUnavailable);
            if (Date.now() > deadline) throw error;
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        }
      }
      expect(await servedBy()).to.equal(to);
    } finally {
      await store.close();
    }
  });

  it('tells a watcher of endings made on the new master after a failover', async () => {
    const prefix = freshPrefix();
    const [ending, watching] = [
      new RedisStore(await connect(sentinel), { prefix }),
      new RedisStore(await connect(sentinel), { prefix }),
    ];
    try {
      const watcher = watch(watching);
      await watcher.told([], 3000);
      await sentinel.failover();
      const opened = login();
      const deadline = Date.now() + 20_000;
      for (;;) {
        try {
          await ending.recordLogin(opened);
          await ending.endSession(opened.openid, opened.familyId, T0);
          break;
        } catch (error) {
          expect(error).to.be.instanceOf(TemporarilyUnavailable);
          if (Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      await watcher.told([opened.familyId], 5000);
    } finally {
      await ending.close();
      await watching.close();
    }
  });
});
