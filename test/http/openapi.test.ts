import { Validator } from '@seriousme/openapi-schema-validator';
import { expect } from 'chai';
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

  it('describes exactly the routes of the contract', async () => {
    const doc = (await h.http.get('/openapi.json')).body as { paths: Record<string, object> };
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    const { readFileSync } = await import('node:fs');
    const contract = readFileSync(new URL('../../../shared/API.md', import.meta.url), 'utf8');
    const inContract = [...contract.matchAll(/^\| `(GET|POST) ([^`]+)` \|/gm)].map((m) => `${m[1]} ${m[2]}`);
    expect(inContract.length).to.be.greaterThan(10);
    expect(documented.sort()).to.deep.equal([...inContract].sort());
  });
});

describe('served routes', () => {
  it('serves every route the OpenAPI document describes', async () => {
    const h = await startHarness({ store: 'memory' });
    try {
      const { openApiDocument } = await import('../../src/http/openapi.js');
      for (const [path, ops] of Object.entries(openApiDocument.paths)) {
        for (const method of Object.keys(ops)) {
          const res = await (method === 'get' ? h.http.get(path) : h.http.post(path).send({}));
          expect(res.status, `${method} ${path}`).not.to.be.oneOf([404, 405]);
          expect(res.status, `${method} ${path}`).to.be.below(500);
        }
      }
    } finally {
      await h.close();
    }
  });
});

describe('README', () => {
  it("lists exactly the OpenAPI document's routes in its routes table", async () => {
    const { readFileSync } = await import('node:fs');
    const { openApiDocument } = await import('../../src/http/openapi.js');
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Routes'), readme.indexOf('### How tokens work'));
    const listed = [...section.matchAll(/^\| `(GET|POST) ([^`]+)` \|/gm)].map((m) => `${m[1]} ${m[2]}`);
    const documented = Object.entries(openApiDocument.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(listed.sort()).to.deep.equal(documented.sort());
  });
});
