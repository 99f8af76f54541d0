import { expect } from 'chai';
import { createLogger, ManualClock } from '../../src/lib/index.js';
import { MemoryStore } from '../../src/store/index.js';
import { cacheLifeMs, createAccessTokenManager, WechatError } from '../../src/wechat/index.js';

const silent = createLogger({ level: 'silent' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('access_token manager', () => {
  let clock: ManualClock;
  let store: MemoryStore;
  let issued: boolean[];

  beforeEach(() => {
    clock = new ManualClock(Date.UTC(2024, 0, 1));
    store = new MemoryStore({ clock });
    issued = [];
  });
  afterEach(async () => {
    await store.close();
  });

  /** An instance whose stable_token takes `delayMs` and answers T1, T2… in turn. */
  function instance(delayMs = 0) {
    return createAccessTokenManager({
      store,
      clock,
      logger: silent,
      timeoutMs: 1000,
      pollIntervalMs: 10,
      async issue(forceRefresh) {
        issued.push(forceRefresh);
        await sleep(delayMs);
        return { token: `T${issued.length}`, expiresInS: 7200 };
      },
    });
  }

  it('lets one of two instances fetch while the other waits for its token', async () => {
    const [a, b] = [instance(100), instance(100)];
    const tokens = await Promise.all([a.current(), b.current(), a.current(), b.current()]);
    expect(tokens).to.deep.equal(['T1', 'T1', 'T1', 'T1']);
    expect(issued).to.deep.equal([false]);
  });

  it("never drops another instance's fresh token when its own stale one is rejected", async () => {
    const [a, b] = [instance(), instance()];
    await store.putWechatAccessToken('T0', clock.now() + 60_000, clock.now());
    const rejectT0 = async (token: string) => {
      if (token === 'T0') throw new WechatError('getuserphonenumber', 40001, 'invalid credential', undefined);
      return token;
    };
    const used = await b.withAccessToken(async (token) => {
      if (token === 'T0') {
        // Meanwhile instance a meets the rejection first and renews the token.
        expect(await a.withAccessToken(rejectT0)).to.equal('T1');
      }
      return rejectT0(token);
    });
    expect(used).to.equal('T1');
    expect(issued).to.deep.equal([false]);
    expect((await store.getWechatAccessToken(clock.now()))?.token).to.equal('T1');
  });

  it('passes on errors other than a rejected token without renewing', async () => {
    const manager = instance();
    let error: unknown;
    await manager
      .withAccessToken(async () => {
        throw new WechatError('getuserphonenumber', 40029, 'invalid code', undefined);
      })
      .catch((caught: unknown) => {
        error = caught;
      });
    expect(error).to.be.instanceOf(WechatError).and.include({ errcode: 40029 });
    expect(issued).to.deep.equal([false]);
  });

  it('caches a token until 4 minutes before its expiry, or for half its life when that is shorter', () => {
    expect(cacheLifeMs(7200)).to.equal(6960_000);
    expect(cacheLifeMs(480)).to.equal(240_000);
    expect(cacheLifeMs(300)).to.equal(150_000);
    expect(cacheLifeMs(1)).to.equal(500);
  });
});
