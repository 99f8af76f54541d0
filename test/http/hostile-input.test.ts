import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { SignJWT } from 'jose';
import { type Harness, startHarness } from '../helpers/harness.js';
import { type RawResponse, send } from '../helpers/raw-http.js';

/**
 * Many malformed requests, generated from a fixed seed so that a failure reproduces, sent over real HTTP
 * to every route of the OpenAPI document. Whatever a client sends, the answer is a 4xx with the
 * contract's error body (or the route's own 2xx), quickly, and never a 5xx or a stack trace.
 */

/** mulberry32: small, seeded, good enough to pick cases. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The routes a browser navigates to, whose refusals are HTML pages (GET /oauth/authorize, /oauth/callback). */
const BROWSER_ROUTES = ['/oauth/authorize', '/oauth/callback'];
describe('hostile input on every route', function () {
  this.timeout(60_000);
  let h: Harness;
  let server: Server;
  let port: number;
  let operations: { method: string; path: string }[];
  let valid: { access: string; refresh: string; openid: string };
  /** Signed with the service's own key for a user who never logged in. */
  let stranger: string;
  /** A session no generated request names: `valid`'s may be ended by one (a logout, a deletion). */
  let bystander: string;

  before(async () => {
    h = await startHarness({ env: { BODY_LIMIT_BYTES: '4096' } });
    server = h.app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
    const document = JSON.parse((await send(port, 'GET', '/openapi.json', {})).body) as {
      paths: Record<string, Record<string, unknown>>;
    };
    operations = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => ({ method: method.toUpperCase(), path })),
    );
    const login = await h.login();
    valid = { access: login.access_token, refresh: login.refresh_token, openid: login.openid };
    bystander = (await h.login()).access_token;
    const signing = h.keys.signing;
    stranger = await new SignJWT({ jti: 'x' })
      .setProtectedHeader({ alg: signing.alg, kid: signing.kid, typ: 'at+jwt' })
      .setIssuer(h.config.tokens.issuer)
      .setAudience(h.config.tokens.audience)
      .setSubject('oNeverLoggedIn_000000000000')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(signing.key);
  });

  after(async () => {
    server?.close();
    await h?.close();
  });

  it('finds the routes to try in the OpenAPI document', () => {
    expect(operations.map((o) => `${o.method} ${o.path}`)).to.include.members([
      'POST /auth/login',
      'POST /auth/refresh',
      'POST /wechat/phone-number',
    ]);
  });

  it('answers 2,000 generated malformed requests with a 4xx error body or a 2xx, never a 5xx', async () => {
    const random = prng(20261123);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const text = (max: number) =>
      Array.from({ length: Math.floor(random() * max) }, () =>
        String.fromCodePoint(
          pick([0, 0x20, 0x41, 0x7f, 0xe9, 0x4e2d, 0x1f600, 0xfffd]) + Math.floor(random() * 30),
        ),
      ).join('');
    const fields = [
      'code',
      'refresh_token',
      'all',
      'encryptedData',
      'iv',
      'rawData',
      'signature',
      '__proto__',
      'constructor',
    ];
    const values = (): unknown =>
      pick<() => unknown>([
        () => text(40),
        () => Math.floor(random() * 1e6) - 5e5,
        () => 1e308 * 10,
        () => random() < 0.5,
        () => null,
        () => [text(10), 1, null],
        () => ({ [pick(fields)]: text(10) }),
        () => 'A'.repeat(Math.floor(random() * 3000)),
        () => 'AAAAAAAAAAAAAAAAAAAAAA==',
        () => valid.refresh,
        () => `${valid.refresh.slice(0, -2)}xx`,
      ])();
    const bodies: (() => { type?: string; body?: Buffer })[] = [
      () => ({}),
      () => ({ type: 'application/json', body: Buffer.from('') }),
      () => ({ type: 'application/json', body: Buffer.from(text(50)) }),
      () => ({
        type: 'application/json',
        body: Buffer.from(
          JSON.stringify(Object.fromEntries(fields.filter(() => random() < 0.5).map((f) => [f, values()]))),
        ),
      }),
      () => ({ type: 'application/json', body: Buffer.from(JSON.stringify(values())) }),
      () => ({ type: 'application/json', body: Buffer.from(`${'['.repeat(2000)}${']'.repeat(2000)}`) }),
      () => ({ type: 'application/json', body: Buffer.from('{"code":"a","code":{"b":1}}') }),
      () => ({ type: 'application/json; charset=utf-16', body: Buffer.from('{"code":"abc"}', 'utf16le') }),
      () => ({ type: 'application/json', body: Buffer.alloc(6000, 0x20) }),
      () => ({
        type: 'application/x-www-form-urlencoded',
        body: Buffer.from(`${pick(fields)}=${encodeURIComponent(text(20))}&${pick(fields)}[a][b]=1&%zz=%`),
      }),
      () => ({ type: 'text/plain', body: Buffer.from(text(30)) }),
      () => ({ type: 'multipart/form-data; boundary=x', body: Buffer.from('--x\r\nbroken') }),
      () => ({
        type: pick(['application/xml', 'image/png', '*/*', 'application/json+x']),
        body: Buffer.from(text(30)),
      }),
      () => ({
        type: 'application/json',
        body: Buffer.from(Array.from({ length: 64 }, () => Math.floor(random() * 256))),
      }),
    ];
    const authorizations: (() => string | undefined)[] = [
      () => undefined,
      () => `Bearer ${valid.access}`,
      () => `bearer ${valid.access}`,
      () => `Bearer ${stranger}`,
      () => 'Bearer',
      () => `Bearer ${text(40)}`,
      () => `Bearer ${valid.access.slice(0, -4)}AAAA`,
      () => `Bearer eyJhbGciOiJub25lIn0.${Buffer.from(`{"sub":"${valid.openid}"}`).toString('base64url')}.`,
      () => `Basic ${Buffer.from('a:b').toString('base64')}`,
      () => `Bearer ${'A'.repeat(6000)}`,
      () => `Bearer ${valid.access} ${valid.access}`,
    ];

    const failures: string[] = [];
    const seen = new Map<string, number>();
    for (let i = 0; i < 2000 && failures.length < 5; i += 1) {
      const { method, path } = pick(operations);
      const { type, body } = pick(bodies)();
      const authorization = pick(authorizations)();
      const headers: Record<string, string> = {};
      if (type) headers['content-type'] = type;
      // Node sends a GET's body unframed unless told its length; a real client frames it.
      if (body) headers['content-length'] = String(body.length);
      if (authorization) headers.authorization = authorization;
      // A header value Node would refuse to send is not a request a client can make either.
      if (authorization && /[^\t\x20-\x7e]/.test(authorization)) delete headers.authorization;
      if (random() < 0.1) headers['x-request-id'] = text(100).replace(/[^\t\x20-\x7e]/g, '');
      const sentMethod = random() < 0.05 ? pick(['PUT', 'DELETE', 'PATCH', 'OPTIONS']) : method;
      const query = random() < 0.1 ? `?access_token=${valid.access}&code=${encodeURIComponent(text(5))}` : '';
      const what = `#${i} ${sentMethod} ${path}${query ? ' ?…' : ''} ${type ?? '-'} ${body?.length ?? 0}B auth=${authorization?.slice(0, 20) ?? '-'}`;
      let res: RawResponse;
      try {
        res = await send(port, sentMethod, `${path}${query}`, headers, body);
      } catch (error) {
        failures.push(`${what}: ${(error as Error).message}`);
        continue;
      }
      const answer = `${res.status} ${/"error":"(\w+)"/.exec(res.body)?.[1] ?? ''}`.trim();
      seen.set(answer, (seen.get(answer) ?? 0) + 1);
      if (res.status >= 500) failures.push(`${what}: ${res.status} ${res.body.slice(0, 200)}`);
      // The browser routes of the OAuth flow answer a person, not a program: a short HTML page (their
      // contract), never a JSON body.
      const page = String(res.headers['content-type'] ?? '').startsWith('text/html');
      if (res.status === 400 && page && BROWSER_ROUTES.includes(path)) {
        if (!res.body.includes('<h1>Sign-in failed</h1>'))
          failures.push(`${what}: 400 page: ${res.body.slice(0, 100)}`);
      } else if (res.status >= 400 && res.status < 500) {
        let parsed: { error?: unknown; error_description?: unknown } = {};
        try {
          parsed = JSON.parse(res.body) as typeof parsed;
        } catch {
          failures.push(`${what}: ${res.status} without a JSON body: ${res.body.slice(0, 100)}`);
          continue;
        }
        if (typeof parsed.error !== 'string' || typeof parsed.error_description !== 'string')
          failures.push(
            `${what}: ${res.status} body lacks error/error_description: ${res.body.slice(0, 200)}`,
          );
      }
      if (/\n\s+at .+\(.+:\d+:\d+\)/.test(res.body)) failures.push(`${what}: a stack trace in the body`);
    }
    expect(failures, failures.join('\n')).to.deep.equal([]);
    // The cases reached past the parsers into the routes: each of these answers came back.
    expect([...seen.keys()], JSON.stringify(Object.fromEntries(seen))).to.include.members([
      '200',
      '400 invalid_request',
      '401 invalid_token',
      '413 invalid_request',
      '400 invalid_grant',
      '401 login_required',
    ]);
    // And the service is still whole: a session made before that no request ended still works.
    const me = await send(port, 'GET', '/auth/me', { authorization: `Bearer ${bystander}` });
    expect(me.status).to.equal(200);
  });
});
