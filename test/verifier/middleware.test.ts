import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import express from 'express';
import Fastify from 'fastify';
import { decodeJwt, SignJWT } from 'jose';
import Koa from 'koa';
import {
  createVerifier,
  expressBearer,
  fastifyBearer,
  koaBearer,
  type RequestLike,
  type Verifier,
} from '../../packages/verifier/src/index.js';
import { freePort } from '../setup/redis.js';
import { type Issuer, startIssuer } from './issuer.js';

interface Served {
  url: string;
  close(): Promise<void>;
}

async function serve(server: Server): Promise<Served> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A token as wxauth signs it, for claims this wxauth does not issue (yet): signed with its own key. */
function sign(issuer: Issuer, claims: Record<string, unknown>): Promise<string> {
  const { h } = issuer;
  const iat = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: issuer.url,
    aud: 'wxauth',
    sub: 'oLinked',
    iat,
    exp: iat + 60,
    jti: 'j1',
    ...claims,
  })
    .setProtectedHeader({ alg: h.keys.signing.alg, typ: 'at+jwt', kid: h.keys.signing.kid } as never)
    .sign(h.keys.signing.key);
}

/** A service of the team's, on each framework: GET /orders behind the package's middleware. */
const frameworks: Record<string, (verifier: Verifier) => Promise<Served>> = {
  async Koa(verifier) {
    const app = new Koa();
    app.use(koaBearer(verifier));
    app.use((ctx) => {
      const { sid, clientId, unionid } = ctx.state.wxauth;
      ctx.body = { openid: ctx.state.openid, sid, clientId, unionid };
    });
    return serve(createServer(app.callback()));
  },
  async Express(verifier) {
    const app = express();
    app.get('/orders', expressBearer(verifier), (req, res) => {
      const { openid, wxauth } = req as RequestLike;
      res.json({ openid, sid: wxauth?.sid, clientId: wxauth?.clientId, unionid: wxauth?.unionid });
    });
    return serve(createServer(app));
  },
  async Fastify(verifier) {
    const app = Fastify();
    app.decorateRequest('openid', '');
    app.decorateRequest('wxauth', null);
    app.get('/orders', { onRequest: fastifyBearer(verifier) }, async (request) => {
      const { openid, wxauth } = request as unknown as RequestLike;
      return { openid, sid: wxauth?.sid, clientId: wxauth?.clientId, unionid: wxauth?.unionid };
    });
    await app.ready();
    return serve(app.server);
  },
};

describe('@wxauth/verifier middleware', () => {
  let issuer: Issuer;
  before(async () => {
    issuer = await startIssuer();
  });
  after(async () => {
    await issuer.close();
  });

  for (const [name, start] of Object.entries(frameworks)) {
    describe(name, () => {
      let service: Served;
      before(async () => {
        service = await start(createVerifier({ issuer: issuer.url, audience: 'wxauth' }));
      });
      after(async () => {
        await service.close();
      });

      const orders = (authorization?: string) =>
        fetch(`${service.url}/orders`, authorization ? { headers: { authorization } } : {});

      it('puts the openid and sid of a valid token on the request, on first sight and from the cache', async () => {
        const login = await issuer.h.login();
        for (let i = 0; i < 2; i += 1) {
          const res = await orders(`Bearer ${login.access_token}`);
          expect(res.status).to.equal(200);
          const body = (await res.json()) as { openid: string; sid: string };
          expect(body.openid).to.equal(login.openid);
          expect(body.sid).to.be.a('string');
        }
      });

      it('puts the client_id and unionid of the token on the request with the rest of the result', async () => {
        const login = await issuer.h.login();
        const plain = await orders(`Bearer ${login.access_token}`);
        expect(await plain.json()).to.deep.equal({
          openid: login.openid,
          sid: decodeJwt(login.access_token).sid,
          clientId: issuer.h.emulator.appid,
        });
        const linked = await sign(issuer, { client_id: 'wxShop', unionid: 'oUnion1' });
        for (let i = 0; i < 2; i += 1) {
          const res = await orders(`Bearer ${linked}`);
          expect(res.status).to.equal(200);
          expect(await res.json()).to.include({ openid: 'oLinked', clientId: 'wxShop', unionid: 'oUnion1' });
        }
      });

      it('answers no token with 401, a bare challenge and the invalid_token body', async () => {
        const res = await orders();
        expect(res.status).to.equal(401);
        expect(res.headers.get('www-authenticate')).to.equal('Bearer realm="wxauth"');
        expect(res.headers.get('cache-control')).to.equal('no-store');
        expect(((await res.json()) as { error: string }).error).to.equal('invalid_token');
      });

      it('answers a bad token with 401 error="invalid_token", as wxauth does', async () => {
        const login = await issuer.h.login();
        for (const authorization of [
          `Bearer ${login.access_token.slice(0, -4)}AAAA`,
          'Bearer not.a.token',
          'Basic dXNlcjpwYXNz',
          `Bearer ${login.access_token} extra`,
        ]) {
          const res = await orders(authorization);
          expect(res.status, authorization).to.equal(401);
          const body = (await res.json()) as { error: string; error_description: string };
          expect(body.error).to.equal('invalid_token');
          if (authorization.startsWith('Bearer'))
            expect(res.headers.get('www-authenticate')).to.match(
              /^Bearer realm="wxauth", error="invalid_token", error_description="[^"]+"$/,
            );
        }
        const wxauth = await issuer.h.http.get('/auth/me').set('Authorization', 'Bearer not.a.token');
        expect(wxauth.headers['www-authenticate']).to.match(/^Bearer realm="wxauth", error="invalid_token"/);
      });

      it('answers 503 with Retry-After when no key could ever be fetched', async () => {
        const nobody = `http://127.0.0.1:${await freePort()}`;
        const cold = await start(createVerifier({ issuer: nobody, audience: 'wxauth' }));
        try {
          const login = await issuer.h.login();
          const res = await fetch(`${cold.url}/orders`, {
            headers: { authorization: `Bearer ${login.access_token}` },
          });
          expect(res.status).to.equal(503);
          expect(res.headers.get('retry-after')).to.match(/^\d+$/);
          expect(((await res.json()) as { error: string }).error).to.equal('temporarily_unavailable');
        } finally {
          await cold.close();
        }
      });
    });
  }
});
