import { once } from 'node:events';
import type { Cluster } from 'ioredis';
import { connectRedis, RedisStore } from '../../src/store/index.js';
import { type RedisCluster, startRedisCluster } from '../setup/cluster.js';
import { freshPrefix } from '../setup/hooks.js';
import { describeWebLoginStoreContract } from './web-login-contract.js';

async function connect(nodes: string[]): Promise<Cluster> {
  const client = connectRedis({ clusterNodes: nodes, onError: () => {} }) as Cluster;
  if (client.status !== 'ready') await once(client, 'ready');
  return client;
}

/** Tickets are app keys (one per command) and their feed is pub/sub, which reaches every node. */
describe('web login tickets on a Redis Cluster of three masters with one replica each', function () {
  this.timeout(60_000);
  let cluster: RedisCluster;

  before(async () => {
    cluster = await startRedisCluster();
  });
  after(async () => {
    await cluster?.stop();
  });

  describeWebLoginStoreContract('RedisStore on a Redis Cluster, two instances', async () => {
    const prefix = freshPrefix();
    const [one, two] = [
      new RedisStore(await connect(cluster.nodes), { prefix }),
      new RedisStore(await connect(cluster.nodes), { prefix }),
    ];
    return {
      a: one.webLogins(),
      b: two.webLogins(),
      async cleanup() {
        await one.close();
        await two.close();
      },
    };
  });
});
