import { createPublicKey } from 'node:crypto';
import { expect } from 'chai';
import { type Harness, startHarness } from '../helpers/harness.js';

describe('service routes', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ store: 'memory' });
  });
  after(async () => {
    await h.close();
  });

  it('GET /healthz answers 200 while the process serves', async () => {
    const res = await h.http.get('/healthz').expect(200);
    expect(res.body).to.deep.equal({ status: 'ok' });
  });

  it('GET /.well-known/jwks.json publishes usable public keys only', async () => {
    const res = await h.http.get('/.well-known/jwks.json').expect(200);
    expect(res.headers['content-type']).to.match(/^application\/json/);
    expect(res.body.keys).to.have.length(1);
    const [jwk] = res.body.keys;
    expect(jwk).to.include({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: h.keys.signing.kid });
    expect(jwk).not.to.have.property('d');
    expect(createPublicKey({ key: jwk, format: 'jwk' }).asymmetricKeyType).to.equal('ec');
  });

  it('answers an unknown route with 404 and a JSON error', async () => {
    const res = await h.http.get('/nope').expect(404);
    expect(res.body.error).to.equal('invalid_request');
  });

  it('answers a wrong method with 405 and a JSON error', async () => {
    const res = await h.http.delete('/auth/login').expect(405);
    expect(res.body.error).to.equal('invalid_request');
  });

  it('echoes a sane X-Request-Id and makes one otherwise', async () => {
    const given = await h.http.get('/healthz').set('X-Request-Id', 'abc-123').expect(200);
    expect(given.headers['x-request-id']).to.equal('abc-123');
    const made = await h.http.get('/healthz').set('X-Request-Id', 'bad id\twith spaces').expect(200);
    expect(made.headers['x-request-id']).to.match(/^[A-Za-z0-9_-]{9,}$/);
  });

  it('makes a different request id for every request, on every instance', async () => {
    const other = await startHarness({ store: 'memory' });
    try {
      const ids = await Promise.all(
        [h, h, h, other, other, other].map(
          async (app) => (await app.http.get('/healthz')).headers['x-request-id'],
        ),
      );
      expect(new Set(ids).size).to.equal(6);
    } finally {
      await other.close();
    }
  });

  it('works the same on the in-memory store: login, me, refresh, logout', async () => {
    const login = await h.login();
    await h.http.get('/auth/me').set('Authorization', `Bearer ${login.access_token}`).expect(200);
    const rotated = await h.http
      .post('/auth/refresh')
      .send({ refresh_token: login.refresh_token })
      .expect(200);
    await h.http
      .post('/auth/logout')
      .set('Authorization', `Bearer ${rotated.body.access_token}`)
      .send({ all: true })
      .expect(204);
    await h.http.post('/auth/refresh').send({ refresh_token: rotated.body.refresh_token }).expect(400);
  });

  it('never writes a session_key, a refresh token or a code into a response or a log line', async () => {
    const { code, openid } = h.emulator.login();
    const login = await h.http.post('/auth/login').send({ code }).expect(200);
    const rotated = await h.http
      .post('/auth/refresh')
      .send({ refresh_token: login.body.refresh_token })
      .expect(200);
    const sessionKey = h.emulator.sessionKeyOf(openid);
    const logs = h.logs.join('\n');
    for (const secret of [
      sessionKey,
      code,
      login.body.refresh_token,
      rotated.body.refresh_token,
      h.emulator.secret,
    ]) {
      expect(logs).not.to.contain(secret);
    }
    expect(JSON.stringify([login.body, rotated.body])).not.to.contain(sessionKey);
  });
});
