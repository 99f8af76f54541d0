import { once } from 'node:events';
import { expect } from 'chai';
import type { Cluster } from 'ioredis';
import { TemporarilyUnavailable } from '../../src/errors/index.js';
import {
  connectRedis,
  type LoginWrite,
  RedisStore,
  type RotateRequest,
  userKeys,
} from '../../src/store/index.js';
import { type RedisCluster, startRedisCluster } from '../setup/cluster.js';
import { freshPrefix } from '../setup/hooks.js';
import { rawCommand } from '../setup/redis.js';
import {
  describeStoreContract,
  familyId,
  login,
  openid,
  refreshToken,
  rotation,
  T0,
  watch,
} from './contract.js';

/** A Cluster client as the service makes it, once it is ready (commands before that fail fast). */
async function connect(nodes: string[]): Promise<Cluster> {
  const client = connectRedis({ clusterNodes: nodes, onError: () => {} }) as Cluster;
  if (client.status !== 'ready') await once(client, 'ready');
  return client;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('on a Redis Cluster of three masters with one replica each', function () {
  // Starting six redis-servers and joining them takes a few seconds.
  this.timeout(60_000);
  let cluster: RedisCluster;

  before(async () => {
    cluster = await startRedisCluster();
  });

  after(async () => {
    await cluster?.stop();
  });

  describeStoreContract('RedisStore on a Redis Cluster', async () => {
    const prefix = freshPrefix();
    const store = new RedisStore(await connect(cluster.nodes), { prefix });
    return {
      store,
      cleanup: () => store.close(),
      peer: async () => new RedisStore(await connect(cluster.nodes), { prefix }),
    };
  });

  describe('RedisStore on a Redis Cluster', () => {
    let prefix: string;
    let client: Cluster;
    let store: RedisStore;

    beforeEach(async () => {
      prefix = freshPrefix();
      client = await connect(cluster.nodes);
      store = new RedisStore(client, { prefix });
    });

    afterEach(async () => {
      await store.close();
    });

    /** Openids whose keys land on each of the three masters (and `perMaster` of each). */
    async function usersOnEveryMaster(perMaster = 1): Promise<Map<number, string[]>> {
      const byMaster = new Map<number, string[]>();
      while (byMaster.size < 3 || [...byMaster.values()].some((ids) => ids.length < perMaster)) {
        const id = openid();
        const master = await cluster.masterOf(userKeys(prefix, id).user);
        byMaster.set(master, [...(byMaster.get(master) ?? []), id]);
      }
      return byMaster;
    }

    it('refuses a script whose keys span two slots (so the tests below would catch one)', async () => {
      let error: unknown;
      await client.eval('return 1', 2, `${prefix}{a}:u`, `${prefix}{b}:u`).catch((caught: unknown) => {
        error = caught;
      });
      expect((error as Error | undefined)?.message).to.match(/CROSSSLOT/);
    });

    it("runs every multi-key script on each master, with all of a user's keys on the master owning its slot", async () => {
      for (const [master, [id]] of await usersOnEveryMaster()) {
        const opened = login({ openid: id!, unionid: 'oUnion-1' });
        expect(await store.recordLogin(opened)).to.deep.equal({
          isNewUser: true,
          sessionsEnded: 0,
          unlinked: true,
          unionid: 'oUnion-1',
        });
        // The person's keys live in the unionid's slot, wherever the identity's are.
        expect(
          await store.linkIdentity('oUnion-1', { openid: id!, appid: 'wxapp' }, opened.nowMs),
        ).to.deep.equal({ ban: null });
        await store.markLinked(id!, 'oUnion-1');
        const second = login({ openid: id! });
        await store.recordLogin(second);
        const keys = userKeys(prefix, id!);
        for (const key of [keys.user, keys.sessions, keys.family(opened.familyId)]) {
          expect(await rawCommand(master, ['EXISTS', key]), key).to.equal('1');
        }
        const first = rotation(opened, opened.tokenHash);
        expect(await store.rotateRefresh(first)).to.include({ kind: 'rotated', unionid: 'oUnion-1' });
        expect(await store.rotateRefresh(rotation(opened, opened.tokenHash))).to.include({ kind: 'grace' });
        expect(await store.getUser(id!)).to.include({ sessionKey: second.sessionKey, unionid: 'oUnion-1' });
        expect(await store.endFamily(id!, opened.familyId, first.nextHash)).to.equal(true);
        expect(await store.endAllFamilies(id!)).to.equal(1);
        const stale = login({ openid: id!, familyId: second.familyId });
        expect(await store.rotateRefresh(rotation(stale, second.tokenHash))).to.deep.equal({
          kind: 'invalid',
        });
        const reuse = login({ openid: id! });
        await store.recordLogin(reuse);
        expect(await store.rotateRefresh(rotation(reuse, refreshToken().hash))).to.deep.equal({
          kind: 'reused',
        });
      }
    });

    /**
     * Sessions on every master, then logins and refreshes in a loop while `switchMaster` replaces the
     * master owning one user's slot. Every failure on the way must be TemporarilyUnavailable and succeed
     * on retry; afterwards every session, opened before the switch or during it, must still refresh.
     * Answers how many calls failed and were retried.
     */
    async function loadThrough(switchMaster: (key: string) => Promise<{ from: number; to: number }>) {
      const byMaster = await usersOnEveryMaster(3);
      const users = [...byMaster.values()].flat();
      const target = [...byMaster.values()][0]![0]!;
      const targetKey = userKeys(prefix, target).user;

      /** A session as a client holds it: its family and the hash of the token it would present next. */
      interface Session {
        opened: LoginWrite;
        current: Buffer;
      }
      const sessions: Session[] = [];
      let retried = 0;

      /** Runs `op` until it succeeds; every failure on the way must be TemporarilyUnavailable. */
      async function untilDone<T>(op: () => Promise<T>): Promise<T> {
        const deadline = Date.now() + 20_000;
        for (;;) {
          try {
            return await op();
          } catch (error) {
            if (!(error instanceof TemporarilyUnavailable) || Date.now() > deadline) throw error;
            retried += 1;
            await sleep(20);
          }
        }
      }

      async function open(id: string, nowMs = T0): Promise<void> {
        // Every round opens one more session of the target: no cap may end the first ones meanwhile.
        const opened = login({ openid: id, nowMs, maxSessions: 100_000 });
        // The same write again on a retry: recording a login is idempotent.
        await untilDone(() => store.recordLogin(opened));
        sessions.push({ opened, current: opened.tokenHash });
      }

      async function refresh(session: Session, nowMs: number): Promise<void> {
        // A failed attempt may have rotated all the same (its answer lost): the retry then gets `grace`
        // with that attempt's seed, and the client derives that attempt's successor.
        const attempts = new Map<string, RotateRequest>(); // by seed, hex
        const outcome = await untilDone(() => {
          const attempt = rotation(session.opened, session.current, { nowMs });
          attempts.set(attempt.successorSeed.toString('hex'), attempt);
          return store.rotateRefresh(attempt);
        });
        if (outcome.kind === 'rotated') session.current = [...attempts.values()].at(-1)!.nextHash;
        else if (outcome.kind === 'grace')
          session.current = attempts.get(outcome.successorSeed.toString('hex'))!.nextHash;
        else throw new Error(`refresh answered ${outcome.kind}`);
      }

      for (const id of users) await open(id);

      let now = T0;
      let running = true;
      let rounds = 0;
      const load = (async () => {
        while (running) {
          now += 1000;
          await open(target, now);
          for (const session of sessions) await refresh(session, now);
          rounds += 1;
        }
      })();

      try {
        await sleep(300);
        const before = await cluster.masterOf(targetKey);
        const { from, to } = await switchMaster(targetKey);
        expect(from).to.equal(before);
        expect(await cluster.masterOf(targetKey)).to.equal(to);
        const afterSwitch = rounds;
        const deadline = Date.now() + 15_000;
        while (rounds < afterSwitch + 2 && Date.now() < deadline) await sleep(50);
      } finally {
        running = false;
        await load;
      }

      expect(sessions.length).to.be.above(users.length);
      for (const session of sessions) {
        const last = rotation(session.opened, session.current, { nowMs: now + 1000 });
        expect((await untilDone(() => store.rotateRefresh(last))).kind, session.opened.openid).to.equal(
          'rotated',
        );
      }
      return retried;
    }

    it('tells a watcher subscribed on any one node of endings on every master within a second', async () => {
      const other = new RedisStore(await connect(cluster.nodes), { prefix });
      try {
        const watcher = watch(other);
        await watcher.told([], 3000);
        for (const [, [id]] of await usersOnEveryMaster()) {
          const opened = login({ openid: id! });
          await store.recordLogin(opened);
          await store.endAllFamilies(id!);
          await watcher.told([opened.familyId], 1000);
        }
      } finally {
        await other.close();
      }
    });

    it('loses no session when the master owning a user fails over during logins and refreshes', async () => {
      // A manual failover pauses the master's clients until its replica has every write, then redirects
      // them (MOVED): the client follows without a single failed call.
      expect(await loadThrough((key) => cluster.failover(key))).to.equal(0);
    });

    it('serves scripts on a new master that never saw them (NOSCRIPT falls back to EVAL)', async () => {
      const id = openid();
      const key = userKeys(prefix, id).user;
      const opened = login({ openid: id, familyId: familyId() });
      await store.recordLogin(opened);
      // The scripts are cached on this master and replicated as their effects, not as scripts.
      await cluster.failover(key);
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          expect((await store.rotateRefresh(rotation(opened, opened.tokenHash))).kind).to.equal('rotated');
          break;
        } catch (error) {
          expect(error).to.be.instanceOf(TemporarilyUnavailable);
          if (Date.now() > deadline) throw error;
          await sleep(50);
        }
      }
      // A script cache emptied behind the client's back (a restarted node): EVALSHA answers NOSCRIPT,
      // and the client sends the script again.
      for (const node of cluster.nodes) await rawCommand(Number(node.split(':')[1]), ['SCRIPT', 'FLUSH']);
      expect(await store.recordLogin(login({ openid: id }))).to.deep.equal({
        isNewUser: false,
        sessionsEnded: 0,
        unlinked: false,
      });
    });

    it('loses no session when that master hangs and dies, and fails calls meanwhile as TemporarilyUnavailable only', async () => {
      // Hung for longer than the command timeout (1 s): calls sent to it fail, and are retried. The last
      // test of the file: that shard has no replica afterwards.
      const other = new RedisStore(await connect(cluster.nodes), { prefix });
      try {
        const watcher = watch(other);
        await watcher.told([], 3000);
        const retried = await loadThrough((key) => cluster.crash(key, { hangMs: 1500 }));
        expect(retried).to.be.above(0);
        // Its subscription may have been on the node that died: it moves to another and catches up.
        for (const [, [id]] of await usersOnEveryMaster()) {
          const opened = login({ openid: id! });
          const deadline = Date.now() + 10_000;
          for (;;) {
            try {
              await store.recordLogin(opened);
              await store.endAllFamilies(id!);
              break;
            } catch (error) {
              expect(error).to.be.instanceOf(TemporarilyUnavailable);
              if (Date.now() > deadline) throw error;
              await sleep(50);
            }
          }
          await watcher.told([opened.familyId], 5000);
        }
      } finally {
        await other.close();
      }
    });
  });
});
