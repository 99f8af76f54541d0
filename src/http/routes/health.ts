import type { Router } from '@koa/router';
import { TemporarilyUnavailable } from '../../errors/index.js';
import type { Metrics } from '../../metrics/index.js';
import type { KeySet } from '../../tokens/index.js';
import type { BearerState } from '../middleware/bearer.js';
import { openApiDocument } from '../openapi.js';

export function healthRoutes(
  router: Router<BearerState>,
  /** serveMetrics false: /metrics is on a listener of its own (METRICS_PORT) or on none (production). */
  deps: {
    keys: KeySet;
    ready: () => Promise<void>;
    /** Whether this instance has read the store's record of ended sessions (else Bearer routes answer 503). */
    revocationsRead: () => boolean;
    metrics: Metrics;
    serveMetrics: boolean;
  },
): void {
  const jwks = JSON.stringify(deps.keys.publicJwks);
  const openapi = JSON.stringify(openApiDocument({ algorithms: deps.keys.algorithms }));

  router.get('/healthz', function reportAlive(ctx) {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });

  router.get('/readyz', async function reportReady(ctx) {
    ctx.set('Cache-Control', 'no-store');
    try {
      await deps.ready();
    } catch (cause) {
      throw new TemporarilyUnavailable('The session store does not answer.', { cause });
    }
    if (!deps.revocationsRead())
      throw new TemporarilyUnavailable('This instance has not yet read the record of ended sessions.');
    ctx.body = { status: 'ready' };
  });

  router.get('/.well-known/jwks.json', function publishPublicKeys(ctx) {
    // Verifiers may cache the set briefly; a rotation publishes the new key before it signs.
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.type = 'application/json';
    ctx.body = jwks;
  });

  if (deps.serveMetrics) {
    router.get('/metrics', async function exposeMetrics(ctx) {
      ctx.type = deps.metrics.registry.contentType;
      ctx.body = await deps.metrics.registry.metrics();
    });
  }

  router.get('/openapi.json', function describeApi(ctx) {
    ctx.type = 'application/json';
    ctx.body = openapi;
  });
}
