import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { SignJWT } from 'jose';
import type { Middleware } from 'koa';
import { type Harness, startHarness } from '../helpers/harness.js';
import { type RawResponse, send } from '../helpers/raw-http.js';

/**
 * GET /auth/me and /auth/verify answered from memory (http/bearer-lane.ts) for a token verified before:
 * the answer must be the Koa stack's, byte for byte, and everything uncertain must still reach the stack.
 */
describe('the answer from memory of a token verified before (GET /auth/me, /auth/verify)', () => {
  let h: Harness;
  let server: Server;
  let port: number;
  /** Requests that reached the Koa middleware: the lane answered the others. */
  let reachedStack = 0;

  before(async () => {
    h = await startHarness();
    const count: Middleware = (_ctx, next) => {
      reachedStack += 1;
      return next();
    };
    // Koa composes its middleware when the server is made, so one put first counts every request it gets.
    h.app.middleware.unshift(count);
    server = h.app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await h.close();
  });

  /** The response as sent, without what differs between any two responses (its id and date). */
  const asSent = (res: RawResponse) => {
    const headers: string[] = [];
    for (let i = 0; i < res.rawHeaders.length; i += 2) {
      const name = res.rawHeaders[i]!;
      if (name !== 'X-Request-Id' && name !== 'Date') headers.push(`${name}: ${res.rawHeaders[i + 1]}`);
    }
    return { status: res.status, headers, body: res.body };
  };

  /** The request line a request id logged, without its id, time and duration. */
  const requestLine = (id: string) => {
    const line = h.logs.map((text) => JSON.parse(text)).find((entry) => entry.req_id === id);
    expect(line, `the request line of ${id}`).to.not.equal(undefined);
    const { req_id: _id, time: _time, ms, ...rest } = line;
    expect(ms).to.be.a('number');
    return rest;
  };

  for (const [method, path] of [
    ['GET', '/auth/me'],
    ['GET', '/auth/verify'],
    ['POST', '/auth/verify'],
  ] as const) {
    it(`answers ${method} ${path} presented again as the stack answered it first, header for header, without reaching the stack`, async () => {
      const { access_token } = await h.login();
      const authorization = `Bearer ${access_token}`;
      const before = reachedStack;
      const first = await send(port, method, path, { authorization, 'x-request-id': 'first-1' });
      expect(reachedStack, 'the first presentation is verified by the stack').to.equal(before + 1);
      const again = await send(port, method, path, { authorization, 'x-request-id': 'again-1' });
      expect(reachedStack, 'the second is answered from memory').to.equal(before + 1);

      expect(first.status).to.equal(200);
      expect(asSent(again)).to.deep.equal(asSent(first));
      expect(again.headers['x-request-id']).to.equal('again-1');
      expect(requestLine('again-1')).to.deep.equal(requestLine('first-1'));
    });
  }

  it("answers /auth/verify from memory with the token's X-Client-Id, and none for a token without client_id, as the stack did", async () => {
    const { access_token } = await h.login();
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
    for (const [token, clientId] of [
      [access_token, h.emulator.appid],
      [older, undefined],
    ] as const) {
      const authorization = `Bearer ${token}`;
      const first = await send(port, 'GET', '/auth/verify', { authorization });
      const before = reachedStack;
      const again = await send(port, 'GET', '/auth/verify', { authorization });
      expect(reachedStack, 'answered from memory').to.equal(before);
      expect(asSent(again)).to.deep.equal(asSent(first));
      expect(again.status).to.equal(200);
      expect(again.headers['x-client-id']).to.equal(clientId);
    }
  });

  for (const path of ['/auth/me', '/auth/verify']) {
    it(`counts ${path} in the request metrics under its route, whether the stack or the lane answers`, async () => {
      const { access_token } = await h.login();
      const authorization = `Bearer ${access_token}`;
      const count = async () => {
        const text = await h.metrics.registry.metrics();
        const line = text
          .split('\n')
          .find((l) => l.startsWith('wxauth_http_requests_total{') && l.includes(`route="${path}"`));
        return line === undefined ? 0 : Number(line.split(' ').pop());
      };
      const before = await count();
      await send(port, 'GET', path, { authorization });
      const reached = reachedStack;
      await send(port, 'GET', path, { authorization });
      await send(port, 'GET', path, { authorization });
      expect(reachedStack).to.equal(reached);
      expect(await count()).to.equal(before + 3);
    });
  }

  it('gives a new request id when the one sent is not sane, as the stack does', async () => {
    const { access_token } = await h.login();
    const authorization = `Bearer ${access_token}`;
    await send(port, 'GET', '/auth/me', { authorization });
    const res = await send(port, 'GET', '/auth/me', { authorization, 'x-request-id': 'no spaces <>' });
    expect(res.status).to.equal(200);
    expect(res.headers['x-request-id']).to.be.a('string').and.not.equal('no spaces <>');
  });

  it('leaves to the stack what it is not sure of: a query string, HEAD, another spelling of the header', async () => {
    const { access_token, openid } = await h.login();
    await send(port, 'GET', '/auth/me', { authorization: `Bearer ${access_token}` });
    const cases: [string, string, Record<string, string>][] = [
      ['GET', '/auth/me?x=1', { authorization: `Bearer ${access_token}` }],
      ['HEAD', '/auth/verify', { authorization: `Bearer ${access_token}` }],
      ['GET', '/auth/me', { authorization: `bearer ${access_token}` }],
      ['GET', '/auth/me', { authorization: `Bearer  ${access_token}` }],
    ];
    for (const [method, path, headers] of cases) {
      const before = reachedStack;
      const res = await send(port, method, path, headers);
      expect(reachedStack, `${method} ${path} ${headers.authorization?.slice(0, 8)}`).to.equal(before + 1);
      expect(res.status).to.equal(200);
      if (path.startsWith('/auth/me')) expect(JSON.parse(res.body).openid).to.equal(openid);
    }
  });

  it('refuses, through the stack, a token it answered before once its session has ended', async () => {
    const login = await h.login();
    const authorization = `Bearer ${login.access_token}`;
    await send(port, 'GET', '/auth/me', { authorization });
    expect((await send(port, 'GET', '/auth/me', { authorization })).status).to.equal(200);
    const out = await send(
      port,
      'POST',
      '/auth/logout',
      { authorization, 'content-type': 'application/json' },
      JSON.stringify({ refresh_token: login.refresh_token }),
    );
    expect(out.status).to.equal(204);
    const me = await send(port, 'GET', '/auth/me', { authorization });
    const verify = await send(port, 'GET', '/auth/verify', { authorization });
    expect([me.status, verify.status]).to.deep.equal([401, 401]);
    expect(JSON.parse(me.body).error).to.equal('invalid_token');
  });

  it('refuses, through the stack, a token it answered before once it has expired', async () => {
    const login = await h.login();
    const authorization = `Bearer ${login.access_token}`;
    await send(port, 'GET', '/auth/verify', { authorization });
    expect((await send(port, 'GET', '/auth/verify', { authorization })).status).to.equal(200);
    h.clock.advance((login.expires_in + h.config.tokens.clockToleranceS) * 1000);
    const before = reachedStack;
    const res = await send(port, 'GET', '/auth/verify', { authorization });
    expect(res.status).to.equal(401);
    expect(res.headers['www-authenticate']).to.match(/error="invalid_token"/);
    expect(reachedStack).to.equal(before + 1);
  });
});
