import type { Router } from '@koa/router';
import type { KeySet } from '../../tokens/index.js';
import type { BearerState } from '../middleware/bearer.js';

export function healthRoutes(router: Router<BearerState>, deps: { keys: KeySet }): void {
  const jwks = JSON.stringify(deps.keys.publicJwks);

  router.get('/healthz', function reportAlive(ctx) {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });

  router.get('/.well-known/jwks.json', function publishPublicKeys(ctx) {
    // Verifiers may cache the set briefly; a rotation publishes the new key before it signs.
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.type = 'application/json';
    ctx.body = jwks;
  });
}
