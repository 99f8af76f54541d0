import { expect } from 'chai';
import { ManualClock } from '../../src/lib/index.js';
import { MemoryStore } from '../../src/store/index.js';
import { describeStoreContract, login } from './contract.js';

describeStoreContract('MemoryStore', async () => {
  const store = new MemoryStore();
  return { store, cleanup: () => store.close() };
});

describe('MemoryStore', () => {
  it('collects expired families in its sweep, by the clock it was given', async () => {
    const clock = new ManualClock(Date.UTC(2001, 0, 1));
    const store = new MemoryStore({ clock });
    const opened = login({ nowMs: clock.now(), refreshTtlS: 60 });
    await store.recordLogin(opened);
    store.sweep();
    expect(await store.endAllFamilies(opened.openid)).to.equal(1);

    await store.recordLogin(opened);
    clock.advance(60_000);
    store.sweep();
    expect(await store.endAllFamilies(opened.openid)).to.equal(0);
    await store.close();
  });

  it('without a clock, never collects a family the latest caller time still sees alive', async () => {
    const store = new MemoryStore();
    // A test clock set in the past: the system clock would call this family long expired.
    const opened = login({ nowMs: Date.UTC(2001, 0, 1), refreshTtlS: 60 });
    await store.recordLogin(opened);
    store.sweep();
    expect(await store.endAllFamilies(opened.openid)).to.equal(1);
    await store.close();
  });

  it('refuses to work after close()', async () => {
    const store = new MemoryStore();
    await store.close();
    let error: unknown;
    await store.ping().catch((caught: unknown) => {
      error = caught;
    });
    expect(error).to.be.instanceOf(Error);
  });
});
