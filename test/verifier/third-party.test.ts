import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import express from 'express';
import { expressjwt, type Request as JwtRequest } from 'express-jwt';
import { auth } from 'express-oauth2-jwt-bearer';
import { createVerifier as createFastVerifier } from 'fast-jwt';
import buildGetJwks from 'get-jwks';
import { base64url } from 'jose';
import jwt from 'jsonwebtoken';
import jwksRsa from 'jwks-rsa';
import Koa from 'koa';
import koaJwt from 'koa-jwt';
import * as oauth from 'oauth4webapi';
import { type Issuer, startIssuer } from './issuer.js';

/**
 * Other people's verifiers, configured as their READMEs say, against the real wxauth over HTTP: each
 * finds the keys at wxauth's JWKS (or by discovery from the issuer alone) and must accept wxauth's
 * default token (ES256) and refuse a tampered copy of it.
 */
type Check = (token: string) => Promise<string>;

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Express's own error handler prints every refusal to stderr: answer it as the status it carries. */
const quietErrors: express.ErrorRequestHandler = (error, _req, res, _next) => {
  const { status, code, message } = error as { status?: number; code?: string; message?: string };
  res.status(status ?? 500).json({ error: code, error_description: message });
};

/** GET <url>/orders with the token: the subject the framework's middleware found, or its refusal. */
function overHttp(url: string): Check {
  return async (token) => {
    const res = await fetch(`${url}/orders`, { headers: { authorization: `Bearer ${token}` } });
    // The refusal's reason in the message, so a failing check says which claim it wanted.
    if (res.status !== 200) throw new Error(`HTTP ${res.status} ${await res.text()}`);
    return ((await res.json()) as { sub: string }).sub;
  };
}

function tampered(token: string): string {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload)));
  return `${header}.${base64url.encode(JSON.stringify({ ...claims, sub: 'oVictim' }))}.${signature}`;
}

describe('wxauth tokens in other verifiers (their own code, configured from their READMEs)', () => {
  let issuer: Issuer;
  const servers: Server[] = [];
  const checks: Record<string, Check> = {};

  before(async () => {
    issuer = await startIssuer();
    const { url } = issuer;
    const jwksUri = `${url}/.well-known/jwks.json`;
    const audience = issuer.h.config.tokens.audience;

    const client = jwksRsa({ jwksUri, cache: true, rateLimit: true });
    checks['jsonwebtoken + jwks-rsa'] = (token) =>
      new Promise((resolve, reject) => {
        jwt.verify(
          token,
          (header, callback) => {
            client.getSigningKey(header.kid).then((key) => callback(null, key.getPublicKey()), callback);
          },
          { issuer: url, audience, algorithms: ['ES256'] },
          (error, payload) => (error ? reject(error) : resolve((payload as jwt.JwtPayload).sub!)),
        );
      });

    const koa = new Koa();
    koa.use(
      koaJwt({
        secret: jwksRsa.koaJwtSecret({ jwksUri, cache: true, rateLimit: true }),
        issuer: url,
        audience,
        algorithms: ['ES256'],
      }),
    );
    koa.use((ctx) => {
      ctx.body = { sub: ctx.state.user.sub };
    });
    const koaServer = createServer(koa.callback());
    servers.push(koaServer);
    checks['koa-jwt (+ jwks-rsa)'] = overHttp(await listen(koaServer));

    const withExpressJwt = express();
    withExpressJwt.get(
      '/orders',
      expressjwt({
        secret: jwksRsa.expressJwtSecret({ jwksUri, cache: true, rateLimit: true }) as never,
        issuer: url,
        audience,
        algorithms: ['ES256'],
      }),
      (req, res) => {
        res.json({ sub: (req as JwtRequest).auth?.sub });
      },
    );
    withExpressJwt.use(quietErrors);
    const expressJwtServer = createServer(withExpressJwt);
    servers.push(expressJwtServer);
    checks['express-jwt (+ jwks-rsa)'] = overHttp(await listen(expressJwtServer));

    const getJwks = buildGetJwks({ issuersWhitelist: [url] });
    const fast = createFastVerifier({
      key: async ({ header, payload }: { header: Record<string, string>; payload: Record<string, string> }) =>
        getJwks.getPublicKey({ kid: header.kid, alg: header.alg, domain: payload.iss }),
      allowedIss: url,
      allowedAud: audience,
      algorithms: ['ES256'],
    });
    checks['fast-jwt + get-jwks (domain: the iss)'] = async (token) =>
      ((await fast(token)) as { sub: string }).sub;

    // Nothing but the issuer: the JWKS and the algorithms come from the discovery document.
    const fromIssuer = express();
    fromIssuer.get('/orders', auth({ issuerBaseURL: url, audience }), (req, res) => {
      res.json({ sub: req.auth?.payload.sub });
    });
    fromIssuer.use(quietErrors);
    const oauthServer = createServer(fromIssuer);
    servers.push(oauthServer);
    checks['express-oauth2-jwt-bearer (issuerBaseURL alone)'] = overHttp(await listen(oauthServer));

    // RFC 9068 to the letter: typ at+jwt and iss, aud, exp, iat, sub, jti and client_id all present.
    const strict = express();
    strict.get('/orders', auth({ issuerBaseURL: url, audience, strict: true }), (req, res) => {
      res.json({ sub: req.auth?.payload.sub });
    });
    strict.use(quietErrors);
    const strictServer = createServer(strict);
    servers.push(strictServer);
    checks['express-oauth2-jwt-bearer (strict: true)'] = overHttp(await listen(strictServer));

    // Loopback http only here: oauth4webapi insists on https unless told otherwise.
    const insecure = { [oauth.allowInsecureRequests]: true };
    const as = await oauth.processDiscoveryResponse(
      new URL(url),
      await oauth.discoveryRequest(new URL(url), { ...insecure, algorithm: 'oidc' }),
    );
    checks['oauth4webapi validateJwtAccessToken (RFC 9068)'] = async (token) => {
      const request = new Request(`${url}/orders`, { headers: { authorization: `Bearer ${token}` } });
      return (await oauth.validateJwtAccessToken(as, request, audience, insecure)).sub;
    };
  });

  after(async () => {
    for (const server of servers) {
      server.closeAllConnections();
      server.close();
    }
    await issuer.close();
  });

  const names = [
    'jsonwebtoken + jwks-rsa',
    'koa-jwt (+ jwks-rsa)',
    'express-jwt (+ jwks-rsa)',
    'fast-jwt + get-jwks (domain: the iss)',
    'express-oauth2-jwt-bearer (issuerBaseURL alone)',
    'express-oauth2-jwt-bearer (strict: true)',
    'oauth4webapi validateJwtAccessToken (RFC 9068)',
  ];
  for (const name of names) {
    it(`${name}: accepts the default token and refuses a tampered one`, async () => {
      expect(issuer.h.keys.signing.alg).to.equal('ES256');
      const login = await issuer.h.login();
      expect(await checks[name]!(login.access_token)).to.equal(login.openid);
      let refused: unknown;
      await checks[name]!(tampered(login.access_token)).catch((error: unknown) => {
        refused = error;
      });
      expect(refused, 'the tampered token was accepted').to.be.instanceOf(Error);
    });
  }
});

describe("several apps' tokens in RFC 9068 validators nobody here wrote", () => {
  let issuer: Issuer;
  let shop: string;
  let mobile: string;
  const servers: Server[] = [];

  before(async () => {
    issuer = await startIssuer({
      apps: [
        { kind: 'miniprogram', name: 'Shop', audience: 'shop-api', claims: ['unionid'] },
        { kind: 'mobile', name: 'App', audience: ['app-api', 'wxauth'] },
      ],
    });
    [shop, mobile] = issuer.h.emulator.apps.map((app) => app.appid) as [string, string];
  });

  after(async () => {
    for (const server of servers) {
      server.closeAllConnections();
      server.close();
    }
    await issuer.close();
  });

  /** oauth4webapi configured from discovery, validating for `audience`: the claims it answers. */
  async function oauth4webapi(token: string, audience: string) {
    const insecure = { [oauth.allowInsecureRequests]: true };
    const url = new URL(issuer.url);
    const as = await oauth.processDiscoveryResponse(
      url,
      await oauth.discoveryRequest(url, { ...insecure, algorithm: 'oidc' }),
    );
    const request = new Request(`${issuer.url}/orders`, { headers: { authorization: `Bearer ${token}` } });
    return oauth.validateJwtAccessToken(as, request, audience, insecure);
  }

  /** express-oauth2-jwt-bearer in strict RFC 9068 mode for `audience`, over HTTP: its answer's status and body. */
  async function strictBearer(token: string, audience: string) {
    const app = express();
    app.get('/orders', auth({ issuerBaseURL: issuer.url, audience, strict: true }), (req, res) => {
      res.json({ sub: req.auth?.payload.sub, client_id: req.auth?.payload.client_id });
    });
    app.use(quietErrors);
    const server = createServer(app);
    servers.push(server);
    const base = await listen(server);
    const res = await fetch(`${base}/orders`, { headers: { authorization: `Bearer ${token}` } });
    return {
      status: res.status,
      body: (await res.json().catch(() => null)) as Record<string, unknown> | null,
    };
  }

  it("oauth4webapi accepts each app's token for its own audience, with its client_id, and refuses it for another app's", async () => {
    const person = issuer.h.emulator.createUser({ unionid: true });
    const viaShop = await issuer.h.login(person.openid, shop);
    const viaApp = await issuer.h.login(person.openid, mobile);

    const shopClaims = await oauth4webapi(viaShop.access_token, 'shop-api');
    expect(shopClaims).to.include({ sub: viaShop.openid, client_id: shop, unionid: person.unionid });
    const appClaims = await oauth4webapi(viaApp.access_token, 'app-api');
    expect(appClaims).to.include({ sub: viaApp.openid, client_id: mobile });
    expect(appClaims).not.to.have.property('unionid');

    let refused: unknown;
    await oauth4webapi(viaApp.access_token, 'shop-api').catch((error: unknown) => {
      refused = error;
    });
    expect(refused, "the App's token was accepted for the Shop's audience").to.be.instanceOf(Error);
  });

  it("express-oauth2-jwt-bearer (strict) accepts each app's token for its audience and refuses it for another's", async () => {
    const person = issuer.h.emulator.createUser({ unionid: true });
    const viaShop = await issuer.h.login(person.openid, shop);
    const viaApp = await issuer.h.login(person.openid, mobile);

    expect(await strictBearer(viaApp.access_token, 'app-api')).to.deep.equal({
      status: 200,
      body: { sub: viaApp.openid, client_id: mobile },
    });
    expect(await strictBearer(viaShop.access_token, 'shop-api')).to.deep.equal({
      status: 200,
      body: { sub: viaShop.openid, client_id: shop },
    });
    expect((await strictBearer(viaShop.access_token, 'app-api')).status).to.equal(401);
  });
});
