import { expect } from 'chai';
import { Redis } from 'ioredis';
import { startRedisServer } from './redis.js';

describe('the private redis-server fixture', () => {
  it('counts commands clients send, and nothing when none is sent', async () => {
    const server = await startRedisServer();
    const client = new Redis(server.url, { lazyConnect: true, enableReadyCheck: false });
    try {
      await client.connect();
      const before = await server.commandCount();
      expect(await server.commandCount()).to.equal(before);
      await client.set('k', 'v');
      await client.get('k');
      expect((await server.commandCount()) - before).to.equal(2);
    } finally {
      client.disconnect();
      await server.stop();
    }
  });

  it("records the commands clients send, without a script's own calls", async () => {
    const server = await startRedisServer();
    const client = new Redis(server.url, { lazyConnect: true, enableReadyCheck: false });
    try {
      await client.connect();
      const log = await server.monitor();
      await client.eval("redis.call('SET', KEYS[1], 'v'); return redis.call('GET', KEYS[1])", 1, 'k');
      await client.ping();
      expect(await log.stop()).to.deep.equal(['eval', 'ping']);
    } finally {
      client.disconnect();
      await server.stop();
    }
  });

  it('restarts an empty server on the same port, and stops for good', async () => {
    const server = await startRedisServer();
    const client = new Redis(server.url, {
      lazyConnect: true,
      enableReadyCheck: false,
      retryStrategy: () => 20,
    });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.set('k', 'v');
      await server.restart();
      const deadline = Date.now() + 3000;
      while (client.status !== 'ready' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(await client.get('k')).to.equal(null);
    } finally {
      client.disconnect();
      await server.stop();
      await server.stop();
    }
    const probe = new Redis(server.url, {
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
    });
    probe.on('error', () => {});
    let refused: unknown;
    await probe.connect().catch((error: unknown) => {
      refused = error;
    });
    probe.disconnect();
    expect(refused).to.be.instanceOf(Error);
  });
});
