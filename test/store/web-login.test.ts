import { once } from 'node:events';
import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { TemporarilyUnavailable } from '../../src/errors/index.js';
import { appKeys, connectRedis, MemoryStore, RedisStore } from '../../src/store/index.js';
import { freshPrefix, testRedis } from '../setup/hooks.js';
import { T0 } from './contract.js';
import { describeWebLoginStoreContract, listen, newTicket, ticketId } from './web-login-contract.js';

async function connect(url: string): Promise<Redis> {
  const client = connectRedis({ url, onError: () => {} }) as Redis;
  if (client.status !== 'ready') await once(client, 'ready');
  return client;
}

describeWebLoginStoreContract('MemoryStore', async () => {
  const store = new MemoryStore();
  return { a: store.webLogins(), b: store.webLogins(), cleanup: () => store.close() };
});

describeWebLoginStoreContract('RedisStore, two instances', async () => {
  const { url } = await testRedis();
  const prefix = freshPrefix();
  const one = new RedisStore(await connect(url), { prefix });
  const two = new RedisStore(await connect(url), { prefix });
  return {
    a: one.webLogins(),
    b: two.webLogins(),
    async cleanup() {
      await one.close();
      await two.close();
    },
  };
});

describe('RedisStore: web login tickets', () => {
  let admin: Redis;
  let prefix: string;
  let stores: RedisStore[];

  beforeEach(async () => {
    admin = await connect((await testRedis()).url);
    prefix = freshPrefix();
    stores = [];
  });
  afterEach(async () => {
    for (const store of stores) await store.close();
    await admin.quit();
  });

  async function store(): Promise<RedisStore> {
    const made = new RedisStore(await connect((await testRedis()).url), { prefix });
    stores.push(made);
    return made;
  }

  it('keeps a ticket as one hash under qr:<ticket>, collected ten minutes after its expiry', async () => {
    const tickets = (await store()).webLogins();
    const id = ticketId();
    await tickets.createWebLogin(id, newTicket(), T0);
    const key = appKeys(prefix).webLogin(id);
    expect(key).to.equal(`${prefix}qr:${id}`);
    expect(await admin.type(key)).to.equal('hash');
    expect(await admin.pttl(key)).to.be.within(720_000 - 1000, 720_000);
  });

  it("answers 503 and writes nothing when a ticket's key holds a value of another type", async () => {
    const tickets = (await store()).webLogins();
    const id = ticketId();
    await admin.set(appKeys(prefix).webLogin(id), 'foreign');
    let error: unknown;
    try {
      await tickets.createWebLogin(id, newTicket(), T0);
    } catch (thrown) {
      error = thrown;
    }
    expect(error).to.be.instanceOf(TemporarilyUnavailable);
    expect(await admin.get(appKeys(prefix).webLogin(id))).to.equal('foreign');
  });

  it('hears of a change made while its subscriber connection was cut, once it is subscribed again', async () => {
    const [a, b] = [(await store()).webLogins(), (await store()).webLogins()];
    const id = ticketId();
    await a.createWebLogin(id, newTicket(), T0);
    const watching = await listen(b, id, 1, 5000);
    // Every pub/sub connection of this Redis goes; the change is published to nobody.
    await admin.client('KILL', 'TYPE', 'pubsub');
    await a.advanceWebLogin(id, { step: 'scan', openid: 'oAlice' }, T0 + 1);
    expect(await watching.changes).to.equal(1);
  });

  it('publishes only the ticket id on its channel', async () => {
    const tickets = (await store()).webLogins();
    const id = ticketId();
    await tickets.createWebLogin(id, newTicket(), T0);
    const subscriber = admin.duplicate();
    await once(subscriber, 'ready');
    const messages: string[] = [];
    subscriber.on('message', (_channel: string, message: string) => messages.push(message));
    await subscriber.subscribe(appKeys(prefix).webLoginChannel);
    await tickets.advanceWebLogin(id, { step: 'scan', openid: 'oAlice' }, T0 + 1);
    while (messages.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(messages).to.deep.equal([id]);
    await subscriber.quit();
  });
});
