import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RedisServer, rawCommand, startRedisServer, until } from './redis.js';

/**
 * A private Redis behind Sentinel for tests: a master, its replica and one Sentinel (quorum 1), all on
 * loopback, each a fixture redis-server (test/setup/redis.ts), so none outlives the test run.
 */
export interface RedisSentinel {
  /** `127.0.0.1:<port>` of the Sentinel: the seeds for `connectRedis({ sentinels, sentinelName })`. */
  sentinels: string[];
  /** The name the Sentinel knows the master by. */
  name: string;
  /** The port of the master, as the Sentinel says now. */
  masterPort(): Promise<number>;
  /**
   * SENTINEL FAILOVER: the Sentinel promotes the replica and announces it (+switch-master). Resolves
   * then; the Sentinel turns the old master into a replica later, when it next hears from it (INFO, every
   * 10 s). Answers the old and new ports.
   */
  failover(): Promise<{ from: number; to: number }>;
  /** Kills every process. Idempotent. */
  stop(): Promise<void>;
}

const NAME = 'wxauth-test';
const TIMEOUT_MS = 30_000;

export async function startRedisSentinel(): Promise<RedisSentinel> {
  const dir = mkdtempSync(join(tmpdir(), 'wxauth-sentinel-'));
  const servers: RedisServer[] = [];
  const stop = async () => {
    await Promise.all(servers.splice(0).map((server) => server.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // In the temporary directory: a replica writes the copy it receives to dump.rdb, `--save ''` or not.
    const master = await startRedisServer({ args: ['--dir', dir] });
    servers.push(master);
    const replica = await startRedisServer({
      args: ['--dir', dir, '--replicaof', '127.0.0.1', String(master.port)],
    });
    servers.push(replica);
    const config = join(dir, 'sentinel.conf');
    writeFileSync(
      config,
      [
        `sentinel monitor ${NAME} 127.0.0.1 ${master.port} 1`,
        `sentinel down-after-milliseconds ${NAME} 5000`,
        `sentinel failover-timeout ${NAME} 20000`,
        '',
      ].join('\n'),
    );
    const sentinel = await startRedisServer({ configFile: config, args: ['--dir', dir, '--sentinel'] });
    servers.push(sentinel);

    const masterPort = async () => {
      const info = await rawCommand(sentinel.port, ['INFO', 'sentinel']);
      return Number(new RegExp(`name=${NAME},status=\\w+,address=[^:]+:(\\d+)`).exec(info)?.[1]);
    };
    /** The Sentinel sees the master with one replica, and the replica is in sync. */
    const settled = async (masterAt: number, replicaAt: number) => {
      const info = await rawCommand(sentinel.port, ['INFO', 'sentinel']);
      if (!info.includes(`address=127.0.0.1:${masterAt},slaves=1`)) return false;
      if ((await role(masterAt)) !== 'master') return false;
      const replication = await rawCommand(replicaAt, ['INFO', 'replication']);
      return /^role:slave/m.test(replication) && /^master_link_status:up/m.test(replication);
    };
    await until('the Sentinel to see the master and its replica', TIMEOUT_MS, () =>
      settled(master.port, replica.port),
    );

    return {
      sentinels: [`127.0.0.1:${sentinel.port}`],
      name: NAME,
      masterPort,
      async failover() {
        const from = await masterPort();
        const to = servers.find((server) => server.port !== from && server !== sentinel)!.port;
        // NOGOODSLAVE until the Sentinel has heard from the replica itself (its first INFO of it).
        await until('the Sentinel to start a failover', TIMEOUT_MS, async () => {
          await rawCommand(sentinel.port, ['SENTINEL', 'FAILOVER', NAME]);
          return true;
        });
        await until(
          `port ${to} to take over from ${from}`,
          TIMEOUT_MS,
          async () => (await masterPort()) === to,
        );
        return { from, to };
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function role(port: number): Promise<string | undefined> {
  return /^role:(\w+)/m.exec(await rawCommand(port, ['INFO', 'replication']))?.[1];
}
