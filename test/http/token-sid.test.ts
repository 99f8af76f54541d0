import { expect } from 'chai';
import { decodeJwt } from 'jose';
import { parseRefreshToken } from '../../src/tokens/index.js';
import { type Harness, startHarness } from '../helpers/harness.js';

describe('access tokens: sid', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ store: 'memory' });
  });
  after(async () => {
    await h.close();
  });

  it("carries the session's id (its refresh-token family), the same after a refresh, another for another login", async () => {
    const login = await h.login();
    const family = parseRefreshToken(login.refresh_token)!.familyId;
    expect(decodeJwt(login.access_token).sid).to.equal(family);
    const refreshed = await h.http
      .post('/auth/refresh')
      .send({ refresh_token: login.refresh_token })
      .expect(200);
    expect(decodeJwt(refreshed.body.access_token).sid).to.equal(family);
    const other = await h.login(login.openid);
    expect(decodeJwt(other.access_token).sid).not.to.equal(family);
    expect(decodeJwt(other.access_token).sid).to.equal(parseRefreshToken(other.refresh_token)!.familyId);
    expect(JSON.stringify(decodeJwt(login.access_token))).not.to.contain(login.refresh_token);
  });
});
