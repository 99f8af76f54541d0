import { readFileSync } from 'node:fs';
import type { Router } from '@koa/router';
import { Validator } from '@seriousme/openapi-schema-validator';
import { expect } from 'chai';
import { z } from 'zod';
import { readGeneratedTable } from '../../scripts/lib/doc-tables.js';
import { type Harness, startHarness } from '../helpers/harness.js';

describe('GET /openapi.json', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ store: 'memory' });
  });
  after(async () => {
    await h.close();
  });

  it('serves an OpenAPI 3.1 document that a validator accepts', async () => {
    const res = await h.http.get('/openapi.json').expect(200);
    expect(res.body.openapi).to.equal('3.1.0');
    const result = await new Validator().validate(res.body);
    expect(result.errors ?? [], JSON.stringify(result.errors)).to.deep.equal([]);
    expect(result.valid).to.equal(true);
  });

  // The contract as it stood before the routes declared their own shapes (fixtures/openapi.json, written
  // once from the hand-kept document): a change of an answer or a request shape must show in the fixture's diff.
  it('describes the same routes, requests and answers as the recorded document', async () => {
    const res = await h.http.get('/openapi.json').expect(200);
    const recorded = JSON.parse(
      readFileSync(new URL('./fixtures/openapi.json', import.meta.url), 'utf8'),
    ) as typeof res.body;
    const bearer = res.body.components.securitySchemes.bearer;
    expect(bearer.bearerFormat).to.equal(`JWT (at+jwt, ${h.keys.algorithms.join(' or ')})`);
    // The recorded document's keys were ES256 ones; the harness's may be others.
    bearer.bearerFormat = recorded.components.securitySchemes.bearer.bearerFormat;
    expect(res.body).to.deep.equal(recorded);
  });
});

describe('served routes', () => {
  it('serves every route the OpenAPI document describes', async () => {
    const h = await startHarness({ store: 'memory' });
    try {
      const { openApiDocument } = await import('../../src/http/openapi.js');
      for (const [path, ops] of Object.entries(openApiDocument({ algorithms: h.keys.algorithms }).paths)) {
        for (const method of Object.keys(ops)) {
          const res = await (method === 'get'
            ? h.http.get(path)
            : method === 'delete'
              ? h.http.delete(path)
              : h.http.post(path).send({}));
          expect(res.status, `${method} ${path}`).not.to.be.oneOf([404, 405]);
          expect(res.status, `${method} ${path}`).to.be.below(500);
        }
      }
    } finally {
      await h.close();
    }
  });
});

describe('route declarations', () => {
  it('documents every route the service serves: none is mounted without its declaration', async () => {
    const h = await startHarness({ store: 'memory' });
    try {
      const { openApiDocument } = await import('../../src/http/openapi.js');
      const documented = new Set(
        Object.entries(openApiDocument({ algorithms: h.keys.algorithms }).paths).flatMap(([path, ops]) =>
          Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
        ),
      );
      const routers = h.app.middleware.flatMap((middleware) => {
        const router = (middleware as { router?: Router }).router;
        return router === undefined ? [] : [router];
      });
      expect(routers).to.have.length(1);
      const served = routers[0]!.stack.flatMap((layer) =>
        layer.methods
          // HEAD is GET's, as OpenAPI has it; /demo is a development page, outside the contract.
          .filter((method) => method !== 'HEAD' && !layer.path.toString().startsWith('/demo'))
          .map((method) => `${method} ${layer.path.toString().replace(/:(\w+)/g, '{$1}')}`),
      );
      expect(served).not.to.be.empty;
      for (const route of served) expect(documented.has(route), route).to.equal(true);
    } finally {
      await h.close();
    }
  });
});

interface DocumentedOperation {
  security?: unknown[];
  parameters?: Array<{ name: string; in: string; schema: { examples?: string[] } }>;
  requestBody?: { content: Record<string, { schema: { examples?: object[] } }> };
  responses: Record<string, { content?: Record<string, { schema: object }> }>;
}

/**
 * A documented answer's JSON schema as a zod schema, its references to the document's components
 * resolved: zod reads local `$defs` only, so the components go there.
 */
function answerSchema(schema: object, components: Record<string, object>): z.ZodType {
  const local = (value: object) =>
    JSON.parse(JSON.stringify(value).replaceAll('"#/components/schemas/', '"#/$defs/')) as object;
  return z.fromJSONSchema({ ...local(schema), $defs: local(components) } as Parameters<
    typeof z.fromJSONSchema
  >[0]);
}

describe('documented examples', () => {
  it('sends each through the service: every one passes validation and gets one of its documented answers, of its documented shape', async () => {
    const h = await startHarness({ store: 'memory' });
    try {
      const { openApiDocument } = await import('../../src/http/openapi.js');
      const document = openApiDocument({ algorithms: h.keys.algorithms });
      const components = document.components.schemas as Record<string, object>;
      const paths = document.paths as Record<string, Record<string, DocumentedOperation>>;
      let sent = 0;
      let shapes = 0;
      for (const [template, operations] of Object.entries(paths)) {
        for (const [method, operation] of Object.entries(operations)) {
          let path = template;
          for (const parameter of operation.parameters ?? []) {
            const example = parameter.schema.examples?.[0];
            expect(example, `${method} ${template}: an example of ${parameter.name}`).to.be.a('string');
            path = path.replace(`{${parameter.name}}`, encodeURIComponent(example!));
          }
          const bodies = operation.requestBody?.content['application/json']?.schema.examples;
          if (operation.requestBody !== undefined)
            expect(bodies, `${method} ${template}: body examples`).to.be.an('array').that.is.not.empty;
          for (const body of bodies ?? [undefined]) {
            // A fresh user for each: an example may end its session (logout, account deletion).
            const token =
              operation.security === undefined
                ? undefined
                : (await h.login(`o_example_${sent}`)).access_token;
            let request = h.http[method as 'get' | 'post' | 'put' | 'patch' | 'delete' | 'options'](path);
            if (token !== undefined) request = request.set('Authorization', `Bearer ${token}`);
            const res = await (body === undefined ? request : request.send(body));
            sent += 1;
            const what = `${method.toUpperCase()} ${path} ${JSON.stringify(body ?? null)}: ${res.status} ${JSON.stringify(res.body)}`;
            expect(Object.keys(operation.responses), what).to.include(String(res.status));
            expect(res.body?.error, what).not.to.equal('invalid_request');
            const documented = operation.responses[String(res.status)]?.content?.['application/json'];
            if (documented !== undefined) {
              const checked = answerSchema(documented.schema, components).safeParse(res.body);
              expect(checked.error?.issues ?? [], what).to.deep.equal([]);
              shapes += 1;
            }
          }
        }
      }
      expect(sent).to.be.above(20);
      expect(shapes).to.be.above(15);
    } finally {
      await h.close();
    }
  });
});

/** The HTTP reference's section under `## heading`, up to the next section. */
function referenceSection(heading: string): string {
  const guide = readFileSync(new URL('../../docs/http-reference.md', import.meta.url), 'utf8');
  const start = guide.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`docs/http-reference.md has no "## ${heading}" section`);
  const end = guide.indexOf('\n## ', start + 1);
  return guide.slice(start, end < 0 ? undefined : end);
}

describe('HTTP reference (docs/http-reference.md)', () => {
  it("lists exactly the OpenAPI document's routes in its routes table", async () => {
    const { openApiDocument } = await import('../../src/http/openapi.js');
    const section = referenceSection('Routes');
    // A route that answers several methods alike is one row: `GET, POST /path`.
    const listed = [...section.matchAll(/^\| `([A-Z]+(?:, [A-Z]+)*) ([^`]+)` \|/gm)].flatMap((m) =>
      m[1]!.split(', ').map((method) => `${method} ${m[2]}`),
    );
    const documented = Object.entries(openApiDocument({ algorithms: ['ES256'] }).paths).flatMap(
      ([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(listed.sort()).to.deep.equal(documented.sort());
  });
});

describe('HTTP reference tables', () => {
  it('holds the routes, the admin routes and the answer shapes as the declarations write them (npm run env-example)', async () => {
    const { renderAdminRoutesTable, renderAnswerShapesTable, renderRoutesTable } = await import(
      '../../src/http/reference.js'
    );
    expect(readGeneratedTable('routes')).to.equal(renderRoutesTable());
    expect(readGeneratedTable('answer-shapes')).to.equal(renderAnswerShapesTable());
    expect(readGeneratedTable('admin-routes')).to.equal(renderAdminRoutesTable());
  });
});

describe('HTTP reference errors table', () => {
  it('names exactly the error codes the service answers with', async () => {
    const { ERROR_CODES } = await import('../../src/errors/index.js');
    const section = referenceSection('Errors');
    const rows = section.slice(section.indexOf('| --- |'));
    const named = new Set([...rows.matchAll(/\| `([a-z_]+)` \|$/gm)].map((m) => m[1]));
    expect([...named].sort()).to.deep.equal([...ERROR_CODES].sort());
  });
});
