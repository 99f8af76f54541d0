import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { decodeJwt } from 'jose';
import { freePort } from '../setup/redis.js';
import { type Issuer, startIssuer } from '../verifier/issuer.js';
import { caddy, type Gateway, nginx } from './gateways.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

for (const kind of [nginx, caddy])
  describe(`${kind.name} with /auth/verify (the configuration in docs/verify-tokens.md, a real ${kind.debian})`, function () {
    this.timeout(30_000);
    let issuer: Issuer;
    let upstream: Server;
    let gateway: Gateway;
    /** Every request that reached the service behind nginx. */
    const seen: Seen[] = [];

    before(async () => {
      const binary = kind.binary();
      if (!binary)
        throw new Error(
          `${kind.debian} is not installed: apt-get install ${kind.debian} (npm test needs it; .ci/run installs it)`,
        );
      issuer = await startIssuer();
      upstream = createServer((req, res) => {
        let body = '';
        req.setEncoding('utf8').on('data', (chunk: string) => {
          body += chunk;
        });
        req.on('end', () => {
          seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true }));
        });
      });
      await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
      const port = await freePort();
      gateway = await kind.start(binary, {
        wxauth: Number(new URL(issuer.url).port),
        service: (upstream.address() as AddressInfo).port,
        gateway: port,
      });
    });

    after(async () => {
      await gateway?.stop();
      upstream?.closeAllConnections();
      upstream?.close();
      await issuer?.close();
    });

    const api = (init: RequestInit & { path?: string } = {}) =>
      fetch(`${gateway.url}${init.path ?? '/api/orders'}`, init);

    it('lets a request with a valid token reach the service, with its openid, session id and client id in headers', async () => {
      const login = await issuer.h.login();
      const sid = decodeJwt(login.access_token).sid;
      const before = seen.length;
      const get = await api({
        headers: {
          authorization: `Bearer ${login.access_token}`,
          'x-openid': 'oForgedByClient',
          'x-client-id': 'wxForgedByClient',
        },
      });
      expect(get.status, gateway.log()).to.equal(200);
      expect(get.headers.get('www-authenticate')).to.equal(null);
      const post = await api({
        method: 'POST',
        headers: { authorization: `Bearer ${login.access_token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ item: 'tea' }),
      });
      expect(post.status).to.equal(200);
      const [first, second] = seen.slice(before);
      expect(first).to.deep.include({ method: 'GET', url: '/api/orders' });
      expect(
        first!.headers['x-openid'],
        'the openid wxauth verified, never the one the client sent',
      ).to.equal(login.openid);
      expect(first!.headers['x-session-id']).to.equal(sid);
      expect(
        first!.headers['x-client-id'],
        'the appid wxauth verified, never the one the client sent',
      ).to.equal(issuer.h.emulator.appid);
      expect(second).to.deep.include({ method: 'POST', body: '{"item":"tea"}' });
      expect(second!.headers['x-openid']).to.equal(login.openid);
    });

    it('answers a missing, forged or expired token 401 with the challenge, and the service never sees it', async () => {
      const login = await issuer.h.login();
      issuer.h.clock.set(Date.now() - 3600_000);
      const expired = (await issuer.h.login()).access_token;
      issuer.h.clock.set(Date.now());
      const before = seen.length;
      const missing = await api({ headers: { 'x-openid': login.openid } });
      expect(missing.status).to.equal(401);
      expect(missing.headers.get('www-authenticate')).to.equal('Bearer realm="wxauth"');
      for (const token of [`${login.access_token.slice(0, -4)}AAAA`, expired, 'not.a.token']) {
        const res = await api({
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'x-openid': login.openid },
          body: 'anything',
        });
        expect(res.status).to.equal(401);
        expect(res.headers.get('www-authenticate')).to.match(/^Bearer realm="wxauth", error="invalid_token"/);
      }
      expect(seen.length - before, 'requests that reached the service').to.equal(0);
    });

    it("passes the mini-program's login through to wxauth, and that token opens the service", async () => {
      const { code } = issuer.h.emulator.login();
      const login = await api({
        path: '/auth/login',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ code }),
      });
      expect(login.status).to.equal(200);
      const { access_token: token, openid } = (await login.json()) as {
        access_token: string;
        openid: string;
      };
      expect((await api({ headers: { authorization: `Bearer ${token}` } })).status).to.equal(200);
      expect(seen.at(-1)!.headers['x-openid']).to.equal(openid);
    });

    it('passes the discovery document and the keys through, so a verifier configured with its URL works', async () => {
      for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
        const res = await api({ path });
        expect(res.status, `${path}\n${gateway.log()}`).to.equal(200);
        expect(((await res.json()) as { jwks_uri: string }).jwks_uri).to.equal(
          `${issuer.url}/.well-known/jwks.json`,
        );
      }
      const jwks = await api({ path: '/.well-known/jwks.json' });
      expect(jwks.status).to.equal(200);
      expect(((await jwks.json()) as { keys: unknown[] }).keys).to.have.length.greaterThan(0);
    });
  });
