import { expect } from 'chai';
import { mintRefreshToken } from '../../src/tokens/index.js';
import { type Harness, harnessForEachTest } from '../helpers/harness.js';

describe('POST /auth/refresh: the per-user limit counts only refreshes the store confirmed', () => {
  let h: Harness;
  harnessForEachTest({ env: { RATE_LIMIT_REFRESH_PER_USER: '30/60' } }, (made) => {
    h = made;
  });

  const refresh = (token: string) => h.http.post('/auth/refresh').send({ refresh_token: token });

  it("does not let 40 forged tokens naming a user's openid lock that user out of refresh", async () => {
    const victim = await h.login();
    for (let i = 0; i < 40; i++) {
      const forged = await refresh(mintRefreshToken(victim.openid).token);
      expect(forged.status, `forged token ${i + 1}`).to.equal(400);
      expect(forged.body.error).to.equal('invalid_grant');
    }
    const real = await refresh(victim.refresh_token).expect(200);
    expect(real.body.openid).to.equal(victim.openid);
    expect(real.headers['ratelimit-remaining']).to.equal('29');
  });

  it("still answers 429 to the user's own refreshes beyond the limit, with Retry-After", async () => {
    let token = (await h.login()).refresh_token;
    for (let i = 0; i < 30; i++) token = (await refresh(token).expect(200)).body.refresh_token;
    const refused = await refresh(token).expect(429);
    expect(refused.body.error).to.equal('rate_limited');
    expect(Number(refused.headers['retry-after'])).to.be.within(1, 60);
    expect(refused.headers['ratelimit-remaining']).to.equal('0');
    expect((await h.http.get('/metrics')).text).to.match(
      /wxauth_rate_limited_total\{limit="refresh_user"\} 1/,
    );
  });

  it('leaves the refused token unspent, so it rotates once the window has passed', async () => {
    const login = await h.login();
    let token = login.refresh_token;
    for (let i = 0; i < 30; i++) token = (await refresh(token).expect(200)).body.refresh_token;
    await refresh(token).expect(429);
    await h.redis!.client.del(`${h.redis!.prefix}rl:refresh_user:${login.openid}`);
    await refresh(token).expect(200);
  });
});
