import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts, type RedisServer, rawCommand, startRedisServer, until } from './redis.js';

/**
 * A private Redis Cluster for tests: three masters, each with one replica, all on loopback. Every node is
 * a fixture redis-server (test/setup/redis.ts), so none outlives the test run however it ends.
 */
export interface RedisCluster {
  /** `127.0.0.1:<port>` of every node, masters and replicas: the seeds for `connectRedis({ clusterNodes })`. */
  nodes: string[];
  /**
   * A manual failover (CLUSTER FAILOVER, no FORCE: the replica first catches up with every write the
   * master acknowledged) of the master that owns `key`'s slot, to its replica. Resolves once every node
   * agrees that the replica owns the slot. Answers the ports of the old and the new master.
   */
  failover(key: string): Promise<{ from: number; to: number }>;
  /**
   * A crash: the master that owns `key`'s slot stops answering (its writes paused until its replica has
   * every acknowledged one, then SIGSTOP: its connections stay open but silent, as a hung host looks),
   * its replica takes over at once (CLUSTER FAILOVER TAKEOVER, as the cluster itself would after
   * cluster-node-timeout), and `hangMs` after the surviving nodes agree on that, the hung process is
   * killed (SIGKILL). The shard has no replica afterwards, and the cluster no way back to six nodes:
   * crash at most once per cluster.
   */
  crash(key: string, options?: { hangMs?: number }): Promise<{ from: number; to: number }>;
  /** The port of the master that owns `key`'s slot, as the cluster says now. */
  masterOf(key: string): Promise<number>;
  /** Kills every node. Idempotent. */
  stop(): Promise<void>;
}

const MASTERS = 3;
const READY_TIMEOUT_MS = 30_000;
const FAILOVER_TIMEOUT_MS = 15_000;

interface ClusterNode {
  id: string;
  port: number;
  flags: string[];
  masterId: string;
  slots: [number, number][];
}

export async function startRedisCluster(): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'wxauth-cluster-'));
  const servers: RedisServer[] = [];
  const stop = async () => {
    await Promise.all(servers.splice(0).map((server) => server.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // A port and a cluster-bus port per node, all distinct (the default bus port, port + 10000, may be
    // taken or past 65535).
    const ports = await freePorts(MASTERS * 4);
    const started = await Promise.all(
      Array.from({ length: MASTERS * 2 }, (_, i) =>
        startRedisServer({
          port: ports[2 * i]!,
          args: [
            ...['--cluster-enabled', 'yes', '--cluster-port', String(ports[2 * i + 1])],
            ...['--cluster-config-file', join(dir, 'nodes-{port}.conf'), '--dir', dir],
            ...['--cluster-node-timeout', '3000'],
          ],
        }),
      ),
    );
    servers.push(...started);
    const nodes = servers.map((server) => `127.0.0.1:${server.port}`);
    await run('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '1', '--cluster-yes']);
    await until('the cluster to be ready', READY_TIMEOUT_MS, () => allReady(servers));

    /** The node crash() killed. */
    let dead: RedisServer | undefined;
    const live = () => servers.find((server) => server !== dead)!;

    /** The slot of `key`, its master and that master's replica, as a live node sees them. */
    const shardOf = async (key: string) => {
      const slot = Number(await rawCommand(live().port, ['CLUSTER', 'KEYSLOT', key]));
      const view = await clusterNodes(live().port);
      const master = view.find((node) => owns(node, slot));
      const replica = view.find((node) => node.masterId === master?.id && !node.flags.includes('fail'));
      if (master === undefined || replica === undefined)
        throw new Error(`no replica for slot ${slot} in ${JSON.stringify(view)}`);
      return { slot, master, replica };
    };

    const masterOf = async (key: string) => {
      const slot = Number(await rawCommand(live().port, ['CLUSTER', 'KEYSLOT', key]));
      const owner = (await clusterNodes(live().port)).find((node) => owns(node, slot));
      if (owner === undefined) throw new Error(`no master owns slot ${slot}`);
      return owner.port;
    };

    return {
      nodes,
      masterOf,
      async failover(key) {
        const { slot, master, replica } = await shardOf(key);
        // A master votes for one failover of a shard per twice the node timeout, and a manual failover
        // that gets no votes gives up after 5 s: one attempt, then another once it has given up.
        let nextAttempt = 0;
        await until(`port ${replica.port} to take over slot ${slot}`, FAILOVER_TIMEOUT_MS, async () => {
          if (Date.now() >= nextAttempt) {
            nextAttempt = Date.now() + 7000;
            await rawCommand(replica.port, ['CLUSTER', 'FAILOVER']);
          }
          return switched(servers, slot, master, replica);
        });
        return { from: master.port, to: replica.port };
      },
      async crash(key, options = {}) {
        const { slot, master, replica } = await shardOf(key);
        if (dead !== undefined) throw new Error('this cluster has had its crash already');
        const victim = servers.find((server) => server.port === master.port)!;
        dead = victim;
        // Replication is asynchronous: a master that dies before its replica has a write loses it, which
        // no client can prevent (the README says so). The crash comes after the last acknowledged
        // write has reached the replica: writes are paused (left unanswered, as a hang would leave
        // them), the replica catches up, and only then does the master stop answering altogether.
        await rawCommand(master.port, ['CLIENT', 'PAUSE', String(FAILOVER_TIMEOUT_MS), 'WRITE']);
        const written = replicationOffset(await rawCommand(master.port, ['INFO', 'replication']), 'master');
        await until(`port ${replica.port} to replicate every write`, FAILOVER_TIMEOUT_MS, async () => {
          const info = await rawCommand(replica.port, ['INFO', 'replication']);
          return replicationOffset(info, 'slave') >= written;
        });
        await victim.freeze();
        // TAKEOVER: the replica takes the slots without an election, which a loaded machine can delay
        // past any test's patience (a refused vote is asked again only after four node timeouts).
        await rawCommand(replica.port, ['CLUSTER', 'FAILOVER', 'TAKEOVER']);
        const survivors = servers.filter((server) => server !== victim);
        await until(`port ${replica.port} to take over slot ${slot}`, FAILOVER_TIMEOUT_MS, async () => {
          for (const server of survivors) {
            const owner = (await clusterNodes(server.port)).find((node) => owns(node, slot));
            if (owner?.port !== replica.port) return false;
          }
          return true;
        });
        await new Promise((resolve) => setTimeout(resolve, options.hangMs ?? 0));
        await victim.stop();
        return { from: master.port, to: replica.port };
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** master_repl_offset of a master's INFO replication, or slave_repl_offset of a replica's. */
function replicationOffset(info: string, role: 'master' | 'slave'): number {
  const found = new RegExp(`^${role}_repl_offset:(\\d+)`, 'm').exec(info);
  if (!found) throw new Error(`no ${role}_repl_offset in INFO replication`);
  return Number(found[1]);
}

/**
 * Every node agrees that `replica` owns `slot` and that `master` is its replica now, and the cluster is
 * ready again.
 */
async function switched(
  servers: RedisServer[],
  slot: number,
  master: ClusterNode,
  replica: ClusterNode,
): Promise<boolean> {
  for (const server of servers) {
    const view = await clusterNodes(server.port);
    const owner = view.find((node) => owns(node, slot));
    const old = view.find((node) => node.id === master.id);
    if (owner?.port !== replica.port || old?.masterId !== replica.id) return false;
  }
  return (await role(master.port)) === 'slave' && (await allReady(servers));
}

/** Every node says cluster_state:ok and knows all the others, and every replica is in sync. */
async function allReady(servers: RedisServer[]): Promise<boolean> {
  for (const server of servers) {
    const info = await rawCommand(server.port, ['CLUSTER', 'INFO']);
    if (
      !/^cluster_state:ok/m.test(info) ||
      !new RegExp(`^cluster_known_nodes:${servers.length}`, 'm').test(info)
    )
      return false;
    const replication = await rawCommand(server.port, ['INFO', 'replication']);
    if (/^role:slave/m.test(replication) && !/^master_link_status:up/m.test(replication)) return false;
  }
  const view = await clusterNodes(servers[0]!.port);
  return view.filter((node) => node.flags.includes('master') && node.slots.length > 0).length === MASTERS;
}

async function role(port: number): Promise<string | undefined> {
  return /^role:(\w+)/m.exec(await rawCommand(port, ['INFO', 'replication']))?.[1];
}

function owns(node: ClusterNode, slot: number): boolean {
  return node.flags.includes('master') && node.slots.some(([from, to]) => slot >= from && slot <= to);
}

/** CLUSTER NODES, one line per node: `<id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slots>…`. */
async function clusterNodes(port: number): Promise<ClusterNode[]> {
  const text = await rawCommand(port, ['CLUSTER', 'NODES']);
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [id, address, flags, masterId, , , , , ...slots] = line.trim().split(' ');
      return {
        id: id!,
        port: Number(/:(\d+)/.exec(address!)?.[1]),
        flags: flags!.split(','),
        masterId: masterId!,
        // Ranges like 0-5460 or a single slot; `[…]` entries are slots being migrated, not owned.
        slots: slots
          .filter((slot) => !slot.startsWith('['))
          .map((slot) => {
            const [from, to] = slot.split('-').map(Number) as [number, number | undefined];
            return [from, to ?? from] as [number, number];
          }),
      };
    });
}

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: READY_TIMEOUT_MS }, (error, stdout, stderr) =>
      error
        ? reject(new Error(`${command} ${args.join(' ')}: ${error.message}\n${stdout}${stderr}`))
        : resolve(stdout),
    );
  });
}
