import { expect } from 'chai';
import { type Harness, harnessForEachTest } from '../helpers/harness.js';

describe('POST /auth/refresh', () => {
  let h: Harness;
  harnessForEachTest({}, (made) => {
    h = made;
  });

  const refresh = (token: unknown) => h.http.post('/auth/refresh').send({ refresh_token: token });

  it('rotates: answers a new pair, and the new refresh token works in turn', async () => {
    const login = await h.login();
    const first = await refresh(login.refresh_token).expect(200);
    expect(first.headers['cache-control']).to.equal('no-store');
    expect(first.body).to.include({ token_type: 'Bearer', openid: login.openid, expires_in: 900 });
    expect(first.body).not.to.have.property('is_new_user');
    expect(first.body.refresh_token).not.to.equal(login.refresh_token);
    expect(first.body.access_token).not.to.equal(login.access_token);
    const second = await refresh(first.body.refresh_token).expect(200);
    expect(second.body.refresh_token).not.to.equal(first.body.refresh_token);
    await h.http.get('/auth/me').set('Authorization', `Bearer ${second.body.access_token}`).expect(200);
  });

  it('keeps the unionid in refreshed token responses', async () => {
    const user = h.emulator.createUser({ unionid: true });
    const login = await h.login(user.openid);
    const res = await refresh(login.refresh_token).expect(200);
    expect(res.body.unionid).to.equal(user.unionid);
  });

  it('slides the refresh lifetime on each rotation', async () => {
    const login = await h.login();
    h.clock.advance(20 * 86400_000);
    const res = await refresh(login.refresh_token).expect(200);
    expect(res.body.refresh_expires_in).to.equal(2592000);
  });

  it('answers six concurrent refreshes of one token with the same successor', async () => {
    const login = await h.login();
    const answers = await Promise.all(Array.from({ length: 6 }, () => refresh(login.refresh_token)));
    expect(answers.map((a) => a.status)).to.deep.equal([200, 200, 200, 200, 200, 200]);
    const successors = new Set(answers.map((a) => a.body.refresh_token));
    expect(successors.size).to.equal(1);
    const [successor] = [...successors];
    await refresh(successor).expect(200);
  });

  it('gives a retried refresh inside the grace window the same successor', async () => {
    const login = await h.login();
    const first = await refresh(login.refresh_token).expect(200);
    h.clock.advance(9_000);
    const retry = await refresh(login.refresh_token).expect(200);
    expect(retry.body.refresh_token).to.equal(first.body.refresh_token);
  });

  it('refuses a refresh token presented again after the grace window and kills every successor', async () => {
    const login = await h.login();
    const first = await refresh(login.refresh_token).expect(200);
    h.clock.advance(11_000);
    const reuse = await refresh(login.refresh_token).expect(400);
    expect(reuse.body.error).to.equal('invalid_grant');
    expect(reuse.body.error_description).to.contain('already used');
    const victim = await refresh(first.body.refresh_token).expect(400);
    expect(victim.body.error).to.equal('invalid_grant');
    const line = h.logs.map((l) => JSON.parse(l)).find((l) => l.event === 'refresh_token_reuse');
    expect(line).to.include({ openid: login.openid, level: 40 });
  });

  it('ends only the reused family: another login of the same user keeps working', async () => {
    const phone = await h.login();
    const tablet = await h.login(phone.openid);
    await refresh(phone.refresh_token).expect(200);
    h.clock.advance(11_000);
    await refresh(phone.refresh_token).expect(400);
    await refresh(tablet.refresh_token).expect(200);
  });

  it('refuses a refresh token after its lifetime', async () => {
    const login = await h.login();
    h.clock.advance(2592000_000);
    const res = await refresh(login.refresh_token).expect(400);
    expect(res.body.error).to.equal('invalid_grant');
  });

  const bogus: Array<[string, unknown]> = [
    ['an unknown token', 'AQ'.repeat(40)],
    ['random base64url', Buffer.alloc(80, 7).toString('base64url')],
    ['an access token', 'eyJhbGciOiJFZERTQSJ9.e30.sig'],
  ];
  for (const [name, token] of bogus) {
    it(`answers 400 invalid_grant to ${name}`, async () => {
      const res = await refresh(token).expect(400);
      expect(res.body.error).to.equal('invalid_grant');
    });
  }

  it('answers invalid_grant to a token of a family that never existed', async () => {
    const login = await h.login();
    const bytes = Buffer.from(login.refresh_token, 'base64url');
    bytes[3] = bytes[3]! ^ 0xff;
    const res = await refresh(bytes.toString('base64url')).expect(400);
    expect(res.body.error).to.equal('invalid_grant');
    await refresh(login.refresh_token).expect(200);
  });

  const malformed: Array<[string, unknown]> = [
    ['no refresh_token', {}],
    ['an empty refresh_token', { refresh_token: '' }],
    ['a numeric refresh_token', { refresh_token: 42 }],
    ['a refresh_token array', { refresh_token: ['a'] }],
    ['an oversized refresh_token', { refresh_token: 'a'.repeat(600) }],
  ];
  for (const [name, body] of malformed) {
    it(`answers 400 invalid_request to ${name}`, async () => {
      const res = await h.http
        .post('/auth/refresh')
        .send(body as object)
        .expect(400);
      expect(res.body.error).to.equal('invalid_request');
    });
  }

  it('keeps no refresh token in clear in Redis', async () => {
    const login = await h.login();
    const rotated = (await refresh(login.refresh_token).expect(200)).body;
    const client = h.redis!.client;
    const dump: string[] = [];
    for (const key of await client.keys(`${h.redis!.prefix}*`)) {
      dump.push(key);
      const type = await client.type(key);
      if (type === 'hash') dump.push(...Object.values(await client.hgetall(key)));
      if (type === 'set') dump.push(...(await client.smembers(key)));
    }
    const text = dump.join('\n');
    expect(dump.length).to.be.greaterThan(3);
    for (const token of [login.refresh_token, rotated.refresh_token]) {
      expect(text).not.to.contain(token);
      expect(text).not.to.contain(token.slice(0, 40));
    }
  });
});
