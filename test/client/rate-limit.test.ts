import { expect } from 'chai';
import { AuthError } from '../../src/client/index.js';
import { type LiveService, startLiveService } from './service.js';

const ACCESS_TTL_MS = 900_000;

describe('Mini-program client: a rate-limited refresh', () => {
  let s: LiveService;
  afterEach(async () => {
    await s.close();
  });

  it('waits Retry-After seconds and refreshes once more, and the request succeeds', async () => {
    // One refresh per user per second: the second refresh below is refused with Retry-After: 1.
    s = await startLiveService({ env: { RATE_LIMIT_REFRESH_PER_USER: '1/1' } });
    const { wx, auth } = s.phone();
    await auth.login();
    s.h.clock.advance(ACCESS_TTL_MS);
    expect((await auth.request({ url: '/auth/me' })).statusCode).to.equal(200);
    s.h.clock.advance(ACCESS_TTL_MS);
    const started = Date.now();
    const me = await auth.request<{ openid: string }>({ url: '/auth/me' });
    expect(me.statusCode).to.equal(200);
    expect(me.data.openid).to.equal(wx.openid);
    expect(Date.now() - started).to.be.at.least(900);
    expect(wx.requests('POST /auth/refresh')).to.have.length(3);
    expect(wx.logins()).to.equal(1);
    expect(auth.session()).to.deep.equal({ openid: wx.openid });
  });

  it('rejects with rate_limited after that one retry but keeps the session, which refreshes later', async function () {
    this.timeout(20_000);
    s = await startLiveService({ env: { RATE_LIMIT_REFRESH_PER_USER: '1/1' } });
    const { wx, auth } = s.phone();
    await auth.login();
    s.h.clock.advance(ACCESS_TTL_MS);
    expect((await auth.request({ url: '/auth/me' })).statusCode).to.equal(200);
    const stored = structuredClone(wx.storage);
    // Another copy of the session (a second tab of the same user) spends each window's refresh
    // just before the retry goes out, so the retry is refused too.
    const other = s.phone({ openid: wx.openid!, storage: stored });
    let retries = 0;
    wx.beforeRequest = async (method, url) => {
      if (method !== 'POST' || !url.endsWith('/auth/refresh')) return;
      if (wx.requests('POST /auth/refresh').length === 3) {
        retries += 1;
        expect((await other.auth.request({ url: '/auth/me' })).statusCode).to.equal(200);
      }
    };
    s.h.clock.advance(ACCESS_TTL_MS);
    const error = await auth.request({ url: '/auth/me' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(retries).to.equal(1);
    expect(error).to.be.instanceOf(AuthError);
    expect(error).to.include({ code: 'rate_limited', status: 429 });
    expect((error as AuthError).retryAfter).to.equal(1);
    expect(wx.requests('POST /auth/refresh')).to.have.length(3);
    expect(auth.session()).to.deep.equal({ openid: wx.openid });
    wx.beforeRequest = undefined;
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await auth.request({ url: '/auth/me' })).statusCode).to.equal(200);
    expect(wx.logins()).to.equal(1);
  });
});
