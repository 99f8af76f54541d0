import type { Router } from '@koa/router';
import { z } from 'zod';
import { TemporarilyUnavailable } from '../../errors/index.js';
import type { Metrics } from '../../metrics/index.js';
import type { KeySet } from '../../tokens/index.js';
import { error, json } from '../answers.js';
import { answerSchemaOf, declareRoute, mounter } from '../declare.js';
import type { BearerState } from '../middleware/bearer.js';
import { openApiDocument } from '../openapi.js';

/** GET /healthz's answer. */
const Alive = z.object({ status: z.literal('ok') });
/** GET /.well-known/jwks.json's answer: the key set's public keys, as JWKs (RFC 7517). */
const Jwks = z.object({ keys: z.array(z.looseObject({})) });

const aliveRoute = declareRoute({
  method: 'get',
  path: '/healthz',
  auth: 'none',
  summary: 'Liveness',
  responses: {
    '200': {
      description: 'Serving',
      content: json(answerSchemaOf(Alive)),
    },
  },
});

const readyRoute = declareRoute({
  method: 'get',
  path: '/readyz',
  auth: 'none',
  summary: 'Readiness: the store answers, and this instance has read its record of ended sessions',
  responses: {
    '200': { description: 'Ready' },
    '503': error(
      'The store does not answer, or this instance has not yet read its record of ended sessions (Bearer routes answer 503 meanwhile).',
    ),
  },
});

const jwksRoute = declareRoute({
  method: 'get',
  path: '/.well-known/jwks.json',
  auth: 'none',
  summary: 'Public signing keys',
  responses: {
    '200': {
      description: 'JWKS',
      content: json(answerSchemaOf(Jwks)),
    },
  },
});

const metricsRoute = declareRoute({
  method: 'get',
  path: '/metrics',
  auth: 'none',
  summary: 'Prometheus metrics',
  description:
    'Served here outside production, and in production only with METRICS_PUBLIC=1; with METRICS_PORT set, only on that listener (404 here).',
  responses: {
    '200': { description: 'Text format', content: { 'text/plain': { schema: { type: 'string' } } } },
  },
});

const openApiRoute = declareRoute({
  method: 'get',
  path: '/openapi.json',
  auth: 'none',
  summary: 'This document',
  responses: { '200': { description: 'OpenAPI 3.1', content: json(answerSchemaOf(z.object({}))) } },
});

/** The declarations of healthRoutes, for the OpenAPI document (/metrics whether or not served here). */
export const HEALTH_ROUTES = [aliveRoute, readyRoute, jwksRoute, metricsRoute, openApiRoute];

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
  const mount = mounter(router, {});

  mount(aliveRoute, {}, function reportAlive(ctx) {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' } satisfies z.infer<typeof Alive>;
  });

  mount(readyRoute, {}, async function reportReady(ctx) {
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

  mount(jwksRoute, {}, function publishPublicKeys(ctx) {
    // Verifiers may cache the set briefly; a rotation publishes the new key before it signs.
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.type = 'application/json';
    ctx.body = jwks;
  });

  if (deps.serveMetrics) {
    mount(metricsRoute, {}, async function exposeMetrics(ctx) {
      ctx.type = deps.metrics.registry.contentType;
      ctx.body = await deps.metrics.registry.metrics();
    });
  }

  mount(openApiRoute, {}, function describeApi(ctx) {
    ctx.type = 'application/json';
    ctx.body = openapi;
  });
}
