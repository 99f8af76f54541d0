import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { type Harness, startHarness } from '../helpers/harness.js';
import { type RawResponse, send } from '../helpers/raw-http.js';

/** What scanners and careless clients send at the edge, over real HTTP. */

async function listen(h: Harness): Promise<{ server: Server; port: number }> {
  const server = h.app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

const allowed = (res: RawResponse) =>
  String(res.headers.allow ?? '')
    .split(',')
    .map((m) => m.trim())
    .filter(Boolean)
    .sort();

describe('HTTP edges', () => {
  let h: Harness;
  let server: Server;
  let port: number;
  before(async () => {
    h = await startHarness({ store: 'memory' });
    ({ server, port } = await listen(h));
  });
  after(async () => {
    server?.close();
    await h?.close();
  });

  describe('methods', () => {
    for (const method of ['TRACE', 'PROPFIND', 'SEARCH']) {
      it(`answers ${method} with 501 invalid_request and Allow, on a known and an unknown path, logging no stack`, async () => {
        const before = h.logs.length;
        const known = await send(port, method, '/healthz');
        expect(known.status, known.body).to.equal(501);
        expect(JSON.parse(known.body)).to.have.keys('error', 'error_description');
        expect(JSON.parse(known.body).error).to.equal('invalid_request');
        expect(JSON.parse(known.body).error_description).to.contain(method);
        expect(allowed(known)).to.deep.equal(['GET', 'HEAD']);

        const unknown = await send(port, method, '/no/such/path');
        expect(unknown.status, unknown.body).to.equal(501);
        expect(JSON.parse(unknown.body).error).to.equal('invalid_request');
        expect(allowed(unknown)).to.include.members(['GET', 'HEAD', 'POST']);

        const logged = h.logs.slice(before).join('');
        expect(logged).not.to.contain('unhandled error');
        expect(logged).not.to.match(/"stack"|\n\s+at /);
        expect(logged).not.to.contain('"level":40');
      });
    }

    it('answers a method forward auth lacks with 501 and Allow naming every method /auth/verify answers', async () => {
      const res = await send(port, 'TRACE', '/auth/verify');
      expect(res.status, res.body).to.equal(501);
      expect(JSON.parse(res.body).error).to.equal('invalid_request');
      expect(allowed(res)).to.deep.equal(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT']);
      expect(JSON.parse(res.body).error_description).to.contain('PUT');
    });

    it("answers a method the route lacks with 405 invalid_request and the route's methods in Allow", async () => {
      const before = h.logs.length;
      const login = await send(port, 'DELETE', '/auth/login');
      expect(login.status).to.equal(405);
      expect(JSON.parse(login.body).error).to.equal('invalid_request');
      expect(JSON.parse(login.body).error_description).to.contain('POST');
      expect(allowed(login)).to.deep.equal(['POST']);

      const me = await send(port, 'PUT', '/auth/me');
      expect(me.status).to.equal(405);
      expect(allowed(me)).to.deep.equal(['GET', 'HEAD']);
      expect(h.logs.slice(before).join('')).not.to.contain('unhandled error');
    });
  });

  describe('paths', () => {
    for (const [method, path] of [
      ['GET', '/METRICS'],
      ['GET', '/Healthz'],
      ['GET', '/healthz/'],
      ['POST', '/Auth/Login/'],
      ['POST', '/auth/login/'],
    ] as const) {
      it(`answers ${method} ${path} with the 404 of an unknown route (exact, case-sensitive paths)`, async () => {
        const headers = { 'content-type': 'application/json', 'content-length': '2' };
        const res = await send(port, method, path, headers, '{}');
        expect(res.status, res.body.slice(0, 200)).to.equal(404);
        expect(JSON.parse(res.body).error).to.equal('invalid_request');
      });
    }
  });

  describe('request bodies', () => {
    const login = (headers: Record<string, string>, body: string) =>
      send(
        port,
        'POST',
        '/auth/login',
        { 'content-length': String(Buffer.byteLength(body)), ...headers },
        body,
      );
    const description = (res: RawResponse) => JSON.parse(res.body).error_description as string;

    it('says a field of the wrong type must be a string, and only an absent field is required', async () => {
      for (const body of ['{"code":123}', '{"code":null}', '{"code":["a"]}', '{"code":{"a":1}}']) {
        const res = await login({ 'content-type': 'application/json' }, body);
        expect(res.status).to.equal(400);
        expect(description(res), body).to.match(/^code: must be a string/);
        expect(description(res), body).not.to.contain('required');
      }
      const absent = await login({ 'content-type': 'application/json' }, '{}');
      expect(description(absent)).to.match(/^code: required/);

      const refresh = await send(
        port,
        'POST',
        '/auth/refresh',
        { 'content-type': 'application/json' },
        '{"refresh_token":7}',
      );
      expect(JSON.parse(refresh.body).error_description).to.match(/^refresh_token: must be a string/);
    });

    it('says a form field sent twice must be a string', async () => {
      const res = await login({ 'content-type': 'application/x-www-form-urlencoded' }, 'code=a&code=b');
      expect(description(res)).to.match(/^code: must be a string/);
    });

    it('says to send Content-Type: application/json for JSON sent as a form (curl -d)', async () => {
      const res = await login({ 'content-type': 'application/x-www-form-urlencoded' }, '{"code":"abc"}');
      expect(res.status).to.equal(400);
      expect(JSON.parse(res.body).error).to.equal('invalid_request');
      expect(description(res)).to.contain('Content-Type: application/json');
      expect(description(res)).not.to.contain('required');
      expect(h.emulator.calls('jscode2session')).to.equal(0);
    });

    it('says Content-Type must be JSON or form-encoded for a body sent without one', async () => {
      for (const headers of [{}, { 'content-type': 'text/plain' }] as Record<string, string>[]) {
        const res = await login(headers, '{"code":"abc"}');
        expect(res.status).to.equal(400);
        expect(JSON.parse(res.body).error).to.equal('invalid_request');
        expect(description(res)).to.match(
          /Content-Type must be application\/json or application\/x-www-form-urlencoded/,
        );
        expect(description(res)).to.contain(`this body has ${headers['content-type'] ?? 'none'}`);
      }
    });
  });
});

describe('HTTP edges: /metrics on its own port', () => {
  it('answers 404 for /metrics on the public port when METRICS_PORT is set', async () => {
    const h = await startHarness({ store: 'memory', env: { METRICS_PORT: '9464' } });
    const { server, port } = await listen(h);
    try {
      const res = await send(port, 'GET', '/metrics');
      expect(res.status).to.equal(404);
      expect(JSON.parse(res.body).error).to.equal('invalid_request');
      expect((await send(port, 'GET', '/healthz')).status).to.equal(200);
    } finally {
      server.close();
      await h.close();
    }
  });

  it('serves /metrics on the public port when METRICS_PORT is unset', async () => {
    const h = await startHarness({ store: 'memory' });
    const { server, port } = await listen(h);
    try {
      const res = await send(port, 'GET', '/metrics');
      expect(res.status).to.equal(200);
      expect(res.body).to.contain('wxauth_http_requests_total');
    } finally {
      server.close();
      await h.close();
    }
  });
});
