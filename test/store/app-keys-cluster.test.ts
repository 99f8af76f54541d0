import { once } from 'node:events';
import type { Cluster } from 'ioredis';
import { connectRedis, RedisStore } from '../../src/store/index.js';
import { type RedisCluster, startRedisCluster } from '../setup/cluster.js';
import { freshPrefix } from '../setup/hooks.js';
import { describeOAuthFlowsContract } from './oauth-flows-contract.js';
import { describeWebLoginStoreContract } from './web-login-contract.js';

async function connect(nodes: string[]): Promise<Cluster> {
  const client = connectRedis({ clusterNodes: nodes, onError: () => {} }) as Cluster;
  if (client.status !== 'ready') await once(client, 'ready');
  return client;
}

/**
 * The app keys (one per command: any slot, any master) of web login tickets, whose feed is pub/sub that
 * reaches every node, and of browser logins (authorization requests and codes), on one cluster.
 */
describe('app keys on a Redis Cluster of three masters with one replica each', function () {
  this.timeout(60_000);
  let cluster: RedisCluster;

  before(async () => {
    cluster = await startRedisCluster();
  });
  after(async () => {
    await cluster?.stop();
  });

  /** Two instances of the service on the cluster, with the same keys. */
  async function twoInstances() {
    const prefix = freshPrefix();
    const one = new RedisStore(await connect(cluster.nodes), { prefix });
    const two = new RedisStore(await connect(cluster.nodes), { prefix });
    return {
      one,
      two,
      async cleanup() {
        await one.close();
        await two.close();
      },
    };
  }

  describeWebLoginStoreContract('RedisStore on a Redis Cluster, two instances', async () => {
    const { one, two, cleanup } = await twoInstances();
    return { a: one.webLogins(), b: two.webLogins(), cleanup };
  });

  describeOAuthFlowsContract('RedisStore on a Redis Cluster, two instances', async () => {
    const { one, two, cleanup } = await twoInstances();
    return { a: one, b: two, cleanup };
  });
});
