import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { isUnderBase, parseBaseUrl, resolveUrl } from '../../src/client/url.js';
import { type LiveService, startLiveService } from './service.js';

describe('Mini-program client: where the access token goes', () => {
  describe('against the real service and another host', () => {
    let s: LiveService;
    let other: Server;
    let otherUrl: string;
    const seen: IncomingHttpHeaders[] = [];
    beforeEach(async () => {
      s = await startLiveService();
      seen.length = 0;
      other = createServer((req, res) => {
        seen.push(req.headers);
        res.writeHead(401, {
          'content-type': 'application/json',
          'www-authenticate': 'Bearer error="invalid_token"',
        });
        res.end(JSON.stringify({ error: 'invalid_token', error_description: 'a third party' }));
      });
      other.listen(0, '127.0.0.1');
      await once(other, 'listening');
      otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    });
    afterEach(async () => {
      other.closeAllConnections();
      other.close();
      await s.close();
    });

    it('never sends the token to another host, and neither refreshes nor retries for its 401', async () => {
      const { wx, auth } = s.phone();
      await auth.login();
      const answer = await auth.request({ url: `${otherUrl}/orders`, header: { 'X-Trace': '1' } });
      expect(answer.statusCode).to.equal(401);
      expect(seen).to.have.length(1);
      expect(seen[0]).not.to.have.property('authorization');
      expect(seen[0]).to.include({ 'x-trace': '1' });
      expect(wx.requests('POST /auth/refresh')).to.have.length(0);
      expect(wx.logins()).to.equal(1);
    });

    it('never sends the token to the same server under another host name', async () => {
      const { wx, auth } = s.phone();
      await auth.login();
      const port = new URL(s.baseUrl).port;
      const answer = await auth.request({ url: `http://localhost:${port}/auth/me` });
      expect(answer.statusCode).to.equal(401);
      const sent = wx.requests().at(-1)!;
      expect(sent.url).to.equal(`http://localhost:${port}/auth/me`);
      expect(sent).not.to.have.property('authorization');
    });

    it('sends nothing and logs in for nobody when the first request goes to another host', async () => {
      const { wx, auth } = s.phone();
      await auth.request({ url: `${otherUrl}/public` });
      expect(wx.logins()).to.equal(0);
      expect(seen[0]).not.to.have.property('authorization');
    });

    it("replaces a caller's Authorization header on requests to the service", async () => {
      const { wx, auth } = s.phone();
      const answer = await auth.request({ url: '/auth/me', header: { authorization: 'Bearer forged' } });
      expect(answer.statusCode).to.equal(200);
      expect(wx.requests('GET /auth/me')[0]!.authorization).to.match(/^Bearer ey/);
    });
  });

  describe('isUnderBase', () => {
    const base = parseBaseUrl('https://api.example.com');
    const withPath = parseBaseUrl('https://example.com/wxauth/');

    const covered: Array<[string, ReturnType<typeof parseBaseUrl>, string]> = [
      ['the base itself', base, 'https://api.example.com'],
      ['a path under it', base, 'https://api.example.com/orders?id=1#x'],
      ['another case of scheme and host', base, 'HTTPS://API.Example.COM/orders'],
      ['the default port written out', base, 'https://api.example.com:443/orders'],
      ['the base path itself', withPath, 'https://example.com/wxauth'],
      ['a path under the base path', withPath, 'https://example.com/wxauth/auth/me'],
      ['dot segments that stay under the base path', withPath, 'https://example.com/wxauth/a/../b'],
    ];
    for (const [name, b, url] of covered) {
      it(`covers ${name}: ${url}`, () => {
        expect(isUnderBase(b, url)).to.equal(true);
      });
    }

    const foreign: Array<[string, ReturnType<typeof parseBaseUrl>, string]> = [
      ['a host that merely starts with the base host', base, 'https://api.example.com.evil.com/'],
      ['userinfo that looks like the host', base, 'https://api.example.com@evil.com/'],
      ['userinfo and a port', base, 'https://api.example.com:443@evil.com/'],
      ['a backslash before another host', base, 'https://api.example.com\\@evil.com/'],
      ['a subdomain', base, 'https://x.api.example.com/'],
      ['a parent domain', base, 'https://example.com/'],
      ['another scheme', base, 'http://api.example.com/'],
      ['another port', base, 'https://api.example.com:8443/'],
      ['a trailing dot', base, 'https://api.example.com./'],
      ['a percent-encoded host', base, 'https://api%2eexample.com/'],
      ['a protocol-relative URL', base, '//api.example.com/'],
      ['a relative path', base, 'orders'],
      ['another scheme altogether', base, 'wss://api.example.com/'],
      ['a path that merely starts with the base path', withPath, 'https://example.com/wxauthx/me'],
      ['a path outside the base path', withPath, 'https://example.com/other'],
      ['dot segments climbing out of the base path', withPath, 'https://example.com/wxauth/../other'],
      ['encoded dot segments climbing out', withPath, 'https://example.com/wxauth/%2e%2e/other'],
      ['backslash dot segments climbing out', withPath, 'https://example.com/wxauth\\..\\other'],
    ];
    for (const [name, b, url] of foreign) {
      it(`refuses ${name}: ${url}`, () => {
        expect(isUnderBase(b, url)).to.equal(false);
      });
    }

    it('resolves a path against the base, and leaves absolute URLs alone', () => {
      expect(resolveUrl(withPath, '/auth/me')).to.equal('https://example.com/wxauth/auth/me');
      expect(resolveUrl(base, 'https://other.example/x')).to.equal('https://other.example/x');
      expect(resolveUrl(base, '//evil.com/x')).to.equal('//evil.com/x');
    });

    for (const bad of [
      'api.example.com',
      'ftp://api.example.com',
      'https://a@api.example.com',
      'https://api.example.com/?q',
      '',
    ]) {
      it(`refuses ${JSON.stringify(bad)} as a baseUrl`, () => {
        expect(() => parseBaseUrl(bad)).to.throw(TypeError, /baseUrl/);
      });
    }
  });
});
