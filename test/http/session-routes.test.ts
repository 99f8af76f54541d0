import { expect } from 'chai';
import { SignJWT } from 'jose';
import { type Harness, harnessForEachTest, startHarness } from '../helpers/harness.js';

describe('Bearer routes', () => {
  let h: Harness;
  harnessForEachTest({}, (made) => {
    h = made;
  });

  const me = (authorization?: string) => {
    const req = h.http.get('/auth/me');
    return authorization === undefined ? req : req.set('Authorization', authorization);
  };

  describe('GET /auth/me', () => {
    it("answers the token's openid and exp", async () => {
      const login = await h.login();
      const res = await me(`Bearer ${login.access_token}`).expect(200);
      expect(res.body).to.have.keys('openid', 'exp');
      expect(res.body.openid).to.equal(login.openid);
    });

    it('treats the scheme case-insensitively', async () => {
      const login = await h.login();
      await me(`bearer ${login.access_token}`).expect(200);
      await me(`BEARER ${login.access_token}`).expect(200);
    });

    it('sends no command to Redis for 50 calls', async () => {
      const login = await h.login();
      const server = h.redis!.server;
      const before = await server.commandCount();
      for (let i = 0; i < 50; i++) await me(`Bearer ${login.access_token}`).expect(200);
      expect((await server.commandCount()) - before).to.equal(0);
    });

    it('answers 401 with a bare Bearer challenge when no token is sent', async () => {
      const res = await me().expect(401);
      expect(res.headers['www-authenticate']).to.equal('Bearer realm="wxauth"');
      expect(res.body.error).to.equal('invalid_token');
    });

    it('takes no token from the query string', async () => {
      const login = await h.login();
      const res = await h.http.get(`/auth/me?access_token=${login.access_token}`).expect(401);
      expect(res.headers['www-authenticate']).to.equal('Bearer realm="wxauth"');
    });

    it('answers another scheme like no token at all', async () => {
      const res = await me('Basic dXNlcjpwYXNz').expect(401);
      expect(res.headers['www-authenticate']).to.equal('Bearer realm="wxauth"');
    });

    const malformed = [
      'Bearer',
      'Bearer ',
      'Bearer a b',
      'Bearer "quoted"',
      'Bearer x.y.z',
      `Bearer ${'a'.repeat(5000)}`,
      'Bearer Zm9v\u00e9',
    ];
    for (const header of malformed) {
      it(`answers 401 invalid_token to "${header.slice(0, 24)}"`, async () => {
        const res = await h.http
          .get('/auth/me')
          .set('Authorization', Buffer.from(header, 'latin1').toString('latin1'));
        expect(res.status).to.equal(401);
        expect(res.body.error).to.equal('invalid_token');
        expect(res.headers['www-authenticate']).to.match(
          /^Bearer realm="wxauth", error="invalid_token", error_description="[^"]+"$/,
        );
      });
    }

    it('refuses an expired token from its exp second on', async () => {
      const login = await h.login();
      h.clock.advance(login.expires_in * 1000);
      const res = await me(`Bearer ${login.access_token}`).expect(401);
      expect(res.headers['www-authenticate']).to.contain('error="invalid_token"');
      expect(res.body.error_description).to.contain('expired');
    });

    it('refuses a token signed by a key that is not ours', async () => {
      const { generateKeyPair } = await import('jose');
      const { privateKey } = await generateKeyPair(h.keys.signing.alg);
      const now = Math.floor(h.clock.now() / 1000);
      const forged = await new SignJWT({ jti: 'x' })
        .setProtectedHeader({ alg: h.keys.signing.alg, typ: 'at+jwt', kid: h.keys.signing.kid })
        .setIssuer(h.config.tokens.issuer)
        .setAudience(h.config.tokens.audience)
        .setSubject('oVictim')
        .setIssuedAt(now)
        .setExpirationTime(now + 60)
        .sign(privateKey);
      await me(`Bearer ${forged}`).expect(401);
    });
  });

  describe('POST /auth/logout', () => {
    const logout = (at: string, body: object) =>
      h.http.post('/auth/logout').set('Authorization', `Bearer ${at}`).send(body);

    it('ends the session of the given refresh token and no other', async () => {
      const phone = await h.login();
      const tablet = await h.login(phone.openid);
      await logout(phone.access_token, { refresh_token: phone.refresh_token }).expect(204);
      expect(
        (await h.http.post('/auth/refresh').send({ refresh_token: phone.refresh_token }).expect(400)).body
          .error,
      ).to.equal('invalid_grant');
      await h.http.post('/auth/refresh').send({ refresh_token: tablet.refresh_token }).expect(200);
    });

    it('ends every session of the user with {"all": true}', async () => {
      const phone = await h.login();
      const tablet = await h.login(phone.openid);
      await logout(phone.access_token, { all: true }).expect(204);
      for (const token of [phone.refresh_token, tablet.refresh_token]) {
        await h.http.post('/auth/refresh').send({ refresh_token: token }).expect(400);
      }
    });

    it("ends the caller's own session, not the other user's, when given another user's refresh token", async () => {
      const alice = await h.login();
      const bob = await h.login();
      await logout(alice.access_token, { refresh_token: bob.refresh_token }).expect(204);
      await h.http.post('/auth/refresh').send({ refresh_token: bob.refresh_token }).expect(200);
      await me(`Bearer ${alice.access_token}`).expect(401);
      await h.http.post('/auth/refresh').send({ refresh_token: alice.refresh_token }).expect(400);
    });

    it("ends the access token's session when the refresh token is stale: that token refused, its refresh token dead", async () => {
      const login = await h.login();
      const stale = login.refresh_token;
      const once = await h.http.post('/auth/refresh').send({ refresh_token: stale }).expect(200);
      const twice = await h.http
        .post('/auth/refresh')
        .send({ refresh_token: once.body.refresh_token })
        .expect(200);
      const other = await h.login(login.openid);
      await logout(twice.body.access_token, { refresh_token: stale }).expect(204);
      await me(`Bearer ${twice.body.access_token}`).expect(401);
      const refused = await h.http.post('/auth/refresh').send({ refresh_token: twice.body.refresh_token });
      expect(refused.status).to.equal(400);
      expect(refused.body.error).to.equal('invalid_grant');
      await me(`Bearer ${other.access_token}`).expect(200);
    });

    it("ends both the access token's session and the caller's other session a refresh token names", async () => {
      const phone = await h.login();
      const tablet = await h.login(phone.openid);
      const laptop = await h.login(phone.openid);
      await logout(phone.access_token, { refresh_token: tablet.refresh_token }).expect(204);
      for (const ended of [phone, tablet]) {
        await me(`Bearer ${ended.access_token}`).expect(401);
        await h.http.post('/auth/refresh').send({ refresh_token: ended.refresh_token }).expect(400);
      }
      await me(`Bearer ${laptop.access_token}`).expect(200);
    });

    it('answers 204 to an unknown or already ended refresh token, from another session of the user too', async () => {
      const login = await h.login();
      // Another session of the same user: ending `login` revokes its own access token at once.
      const other = await h.login(login.openid);
      await logout(login.access_token, { refresh_token: 'not-a-token' }).expect(204);
      await logout(other.access_token, { refresh_token: login.refresh_token }).expect(204);
    });

    it('requires a Bearer token', async () => {
      const login = await h.login();
      const res = await h.http.post('/auth/logout').send({ refresh_token: login.refresh_token }).expect(401);
      expect(res.headers['www-authenticate']).to.equal('Bearer realm="wxauth"');
      await h.http.post('/auth/refresh').send({ refresh_token: login.refresh_token }).expect(200);
    });

    const malformed: Array<[string, unknown]> = [
      ['an empty body', {}],
      ['all: false without a token', { all: false }],
      ['all as a string', { all: 'true' }],
      ['a numeric refresh_token', { refresh_token: 1 }],
    ];
    for (const [name, body] of malformed) {
      it(`answers 400 invalid_request to ${name}`, async () => {
        const login = await h.login();
        const res = await logout(login.access_token, body as object).expect(400);
        expect(res.body.error).to.equal('invalid_request');
      });
    }
  });
});

describe('the session cap (MAX_SESSIONS_PER_USER)', () => {
  it('ends the least recently used session of a user who logs in past the cap; logout-all ends the rest', async () => {
    const h = await startHarness({ env: { MAX_SESSIONS_PER_USER: '2' } });
    try {
      const first = await h.login();
      h.clock.advance(1000);
      const second = await h.login(first.openid);
      h.clock.advance(1000);
      const refreshed = await h.http
        .post('/auth/refresh')
        .send({ refresh_token: first.refresh_token })
        .expect(200);
      h.clock.advance(1000);
      const third = await h.login(first.openid);

      const ended = await h.http.post('/auth/refresh').send({ refresh_token: second.refresh_token });
      expect(ended.status).to.equal(400);
      expect(ended.body.error).to.equal('invalid_grant');
      expect(h.logs.join('')).to.contain('"event":"session_cap"');

      await h.http
        .post('/auth/logout')
        .set('Authorization', `Bearer ${third.access_token}`)
        .send({ all: true })
        .expect(204);
      for (const token of [refreshed.body.refresh_token, third.refresh_token]) {
        const res = await h.http.post('/auth/refresh').send({ refresh_token: token });
        expect(res.status).to.equal(400);
      }
    } finally {
      await h.close();
    }
  });
});
