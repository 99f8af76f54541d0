import { type RedisCluster, startRedisCluster } from '../setup/cluster.js';
import { severalAppsSuite } from './apps-suite.js';

/** The same person across apps on a Redis Cluster: identities and persons live in different slots. */
describe('on a Redis Cluster of three masters with one replica each', function () {
  this.timeout(60_000);
  let cluster: RedisCluster;
  before(async () => {
    cluster = await startRedisCluster();
  });
  after(() => cluster?.stop());

  severalAppsSuite('Redis Cluster', { cluster: () => cluster.nodes });
});
