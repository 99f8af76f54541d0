import { expect } from 'chai';
import { SignJWT } from 'jose';
import { type Harness, startHarness } from '../helpers/harness.js';

describe('/auth/verify (forward auth)', () => {
  let h: Harness;
  /** Signature checks made: a token recalled from the verified-token cache makes none. */
  let lookups = 0;
  before(async () => {
    h = await startHarness({ env: { BODY_LIMIT_BYTES: '1024' } });
    const verifying = h.keys.verifying as Map<string, unknown>;
    const get = verifying.get.bind(verifying);
    verifying.get = (kid: string) => {
      lookups += 1;
      return get(kid);
    };
  });
  after(async () => {
    await h.close();
  });

  it('answers any method 200 with an empty body, X-Openid, X-Session-Id and X-Client-Id, never reading the body', async () => {
    const login = await h.login();
    const bearer = `Bearer ${login.access_token}`;
    const requests = {
      GET: h.http.get('/auth/verify'),
      HEAD: h.http.head('/auth/verify'),
      'POST, not JSON': h.http.post('/auth/verify').set('Content-Type', 'application/json').send('{not json'),
      'PUT, over the body limit': h.http
        .put('/auth/verify')
        .set('Content-Type', 'application/json')
        .send(`"${'x'.repeat(5000)}"`),
      'PATCH, multipart': h.http
        .patch('/auth/verify')
        .set('Content-Type', 'multipart/form-data; boundary=x')
        .send('--x\r\nbroken'),
      DELETE: h.http.delete('/auth/verify'),
      OPTIONS: h.http.options('/auth/verify'),
    };
    for (const [what, request] of Object.entries(requests)) {
      const res = await request.set('Authorization', bearer);
      expect(res.status, `${what}: ${res.text}`).to.equal(200);
      expect(res.headers['x-openid']).to.equal(login.openid);
      expect(res.headers['x-session-id']).to.be.a('string').and.not.equal('');
      expect(res.headers['x-client-id'], 'the appid the person logged in through').to.equal(h.emulator.appid);
      expect(res.headers['cache-control']).to.equal('no-store');
      expect(res.text ?? '').to.equal('');
    }
  });

  it('sends no X-Client-Id for a token issued before client_id existed, verified or recalled', async () => {
    const iat = Math.floor(h.clock.now() / 1000);
    const older = await new SignJWT({
      iss: h.config.tokens.issuer,
      aud: h.config.tokens.audience,
      sub: 'oOlder',
      sid: 'family1',
      iat,
      exp: iat + 60,
      jti: 'j-older',
    })
      .setProtectedHeader({ alg: h.keys.signing.alg, typ: 'at+jwt', kid: h.keys.signing.kid } as never)
      .sign(h.keys.signing.key);
    for (let i = 0; i < 2; i += 1) {
      const res = await h.http.get('/auth/verify').set('Authorization', `Bearer ${older}`).expect(200);
      expect(res.headers['x-openid']).to.equal('oOlder');
      expect(res.headers).not.to.have.property('x-client-id');
    }
  });

  it('answers 401 with the WWW-Authenticate of every Bearer route, and never X-Openid', async () => {
    const missing = await h.http.get('/auth/verify').expect(401);
    expect(missing.headers['www-authenticate']).to.equal('Bearer realm="wxauth"');
    expect(missing.headers).not.to.have.property('x-openid');
    expect(missing.headers).not.to.have.property('x-client-id');
    const login = await h.login();
    h.clock.advance(login.expires_in * 1000);
    const expired = await h.http
      .post('/auth/verify')
      .set('Authorization', `Bearer ${login.access_token}`)
      .send({ ignored: true })
      .expect(401);
    expect(expired.headers['www-authenticate']).to.match(/^Bearer realm="wxauth", error="invalid_token"/);
    expect(expired.body.error).to.equal('invalid_token');
    expect(expired.headers).not.to.have.property('x-openid');
    h.clock.set(Date.now());
  });

  it('answers hostile Authorization headers with 401, never a 5xx', async () => {
    const login = await h.login();
    const [header, payload] = login.access_token.split('.');
    for (const value of [
      'Bearer',
      'Bearer ',
      'Basic dXNlcjpwYXNz',
      `Bearer ${'A'.repeat(8000)}`,
      'Bearer a.b.c',
      `Bearer ${header}.${payload}.`,
      `Bearer ${header}..`,
      `Bearer ${login.access_token}x`,
      `bearer  ${login.access_token.slice(0, -3)}`,
      'Bearer %00%ff',
      `Bearer ${Buffer.from('{"alg":"none"}').toString('base64url')}.e30.`,
    ]) {
      const res = await h.http.get('/auth/verify').set('Authorization', value);
      expect(res.status, value.slice(0, 40)).to.equal(401);
    }
  });

  it('sends no command to the store, whatever it answers', async () => {
    const login = await h.login();
    const before = await h.redis!.server.commandCount();
    for (let i = 0; i < 5; i += 1) {
      await h.http.get('/auth/verify').set('Authorization', `Bearer ${login.access_token}`).expect(200);
      await h.http.post('/auth/verify').set('Authorization', 'Bearer forged.token.x').expect(401);
      await h.http.get('/auth/verify').expect(401);
    }
    expect((await h.redis!.server.commandCount()) - before).to.equal(0);
  });

  it('shares the verified-token cache of /auth/me: a token verified by either is recalled by the other', async () => {
    const first = await h.login();
    const second = await h.login();
    lookups = 0;
    await h.http.get('/auth/me').set('Authorization', `Bearer ${first.access_token}`).expect(200);
    await h.http.get('/auth/verify').set('Authorization', `Bearer ${first.access_token}`).expect(200);
    await h.http.delete('/auth/verify').set('Authorization', `Bearer ${second.access_token}`).expect(200);
    await h.http.get('/auth/me').set('Authorization', `Bearer ${second.access_token}`).expect(200);
    expect(lookups).to.equal(2);
  });
});
