import { Router } from '@koa/router';
import { koaBearer, type Verifier } from '@wxauth/verifier';
import Koa from 'koa';

/**
 * A service of the team's, behind the same gateway as wxauth: its routes accept wxauth's access tokens
 * with nothing but wxauth's public keys (no call to wxauth per request, no storage).
 */
export function createOrdersApp(verifier: Verifier): Koa {
  const router = new Router();
  // Open routes before the middleware, protected ones after it.
  router.get('/api/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.use(koaBearer(verifier));
  router.get('/api/orders', (ctx) => {
    // The openid is the token's sub, verified; sid is the login (session) it came from.
    const openid = ctx.state.openid as string;
    ctx.body = { openid, orders: [{ id: 1, item: 'jasmine tea', owner: openid }] };
  });
  const app = new Koa();
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
