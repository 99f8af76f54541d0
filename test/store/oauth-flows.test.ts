import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { appKeys, connectRedis, MemoryStore, RedisStore } from '../../src/store/index.js';
import { freshPrefix, testRedis } from '../setup/hooks.js';
import { T0 } from './contract.js';
import { describeOAuthFlowsContract } from './oauth-flows-contract.js';

async function connect(url: string): Promise<Redis> {
  const client = connectRedis({ url, onError: () => {} }) as Redis;
  if (client.status !== 'ready') await once(client, 'ready');
  return client;
}

describeOAuthFlowsContract('MemoryStore', async () => {
  const store = new MemoryStore();
  return { a: store, b: store, cleanup: () => store.close() };
});

describeOAuthFlowsContract('RedisStore, two instances', async () => {
  const { url } = await testRedis();
  const prefix = freshPrefix();
  const one = new RedisStore(await connect(url), { prefix });
  const two = new RedisStore(await connect(url), { prefix });
  return {
    a: one,
    b: two,
    async cleanup() {
      await one.close();
      await two.close();
    },
  };
});

describe('RedisStore: OAuth flows', () => {
  let admin: Redis;
  let store: RedisStore;
  let prefix: string;
  beforeEach(async () => {
    const { url } = await testRedis();
    prefix = freshPrefix();
    admin = await connect(url);
    store = new RedisStore(await connect(url), { prefix });
  });
  afterEach(async () => {
    await store.close();
    await admin.quit();
  });

  it('keeps a request under oa:<state digest> for its ttl, holding no state in clear', async () => {
    const state = randomBytes(32).toString('base64url');
    const hash = createHash('sha256').update(state).digest('base64url');
    await store.putAuthorizationRequest(
      hash,
      {
        clientId: 'c',
        redirectUri: 'https://a.example/cb',
        codeChallenge: 'x',
        scope: 'openid',
        createdAtMs: T0,
      },
      600_000,
    );
    const key = appKeys(prefix).authorizationRequest(hash);
    expect(await admin.pttl(key)).to.be.within(590_000, 600_000);
    expect(await admin.keys(`${prefix}*`)).to.deep.equal([key]);
    expect(await admin.get(key)).not.to.include(state);
  });

  it('keeps a code as a hash under oc:<code digest> for keepMs, however old the caller clock', async () => {
    const hash = createHash('sha256').update(randomBytes(32)).digest('base64url');
    await store.putAuthorizationCode(
      hash,
      {
        clientId: 'c',
        redirectUri: 'https://a.example/cb',
        codeChallenge: 'x',
        scope: 'openid',
        openid: 'oAbc',
        authTimeMs: T0,
        expiresAtMs: T0 + 60_000,
      },
      360_000,
    );
    const key = appKeys(prefix).authorizationCode(hash);
    expect(await admin.type(key)).to.equal('hash');
    expect(await admin.pttl(key)).to.be.within(350_000, 360_000);
  });
});
