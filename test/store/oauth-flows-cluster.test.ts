import { once } from 'node:events';
import type { Cluster } from 'ioredis';
import { connectRedis, RedisStore } from '../../src/store/index.js';
import { type RedisCluster, startRedisCluster } from '../setup/cluster.js';
import { freshPrefix } from '../setup/hooks.js';
import { describeOAuthFlowsContract } from './oauth-flows-contract.js';

async function connect(nodes: string[]): Promise<Cluster> {
  const client = connectRedis({ clusterNodes: nodes, onError: () => {} }) as Cluster;
  if (client.status !== 'ready') await once(client, 'ready');
  return client;
}

/** Authorization requests and codes are app keys, one per command: any slot, any master. */
describe('OAuth flows on a Redis Cluster of three masters with one replica each', function () {
  this.timeout(60_000);
  let cluster: RedisCluster;

  before(async () => {
    cluster = await startRedisCluster();
  });
  after(async () => {
    await cluster?.stop();
  });

  describeOAuthFlowsContract('RedisStore on a Redis Cluster, two instances', async () => {
    const prefix = freshPrefix();
    const [one, two] = [
      new RedisStore(await connect(cluster.nodes), { prefix }),
      new RedisStore(await connect(cluster.nodes), { prefix }),
    ];
    return {
      a: one,
      b: two,
      async cleanup() {
        await one.close();
        await two.close();
      },
    };
  });
});
