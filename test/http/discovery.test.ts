import { expect } from 'chai';
import { decodeJwt } from 'jose';
import { openApiDocument } from '../../src/http/openapi.js';
import { type Harness, startHarness } from '../helpers/harness.js';

const DOCUMENTS = ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server'];

describe('discovery documents', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ store: 'memory', env: { PUBLIC_URL: 'https://auth.example.com/' } });
  });
  after(async () => {
    await h.close();
  });

  it("name the tokens' issuer, absolute URLs under PUBLIC_URL and the key set's algorithms", async () => {
    const login = await h.login();
    const iss = decodeJwt(login.access_token).iss;
    expect(iss).to.equal('https://auth.example.com');
    for (const path of DOCUMENTS) {
      const res = await h.http.get(path).expect(200);
      expect(res.headers['content-type']).to.match(/^application\/json/);
      expect(res.headers['cache-control']).to.match(/^public, max-age=\d+$/);
      expect(res.body).to.deep.include({
        issuer: iss,
        jwks_uri: 'https://auth.example.com/.well-known/jwks.json',
        token_endpoint: 'https://auth.example.com/oauth/token',
        grant_types_supported: ['authorization_code', 'refresh_token'],
        token_endpoint_auth_methods_supported: ['none'],
        id_token_signing_alg_values_supported: ['ES256'],
        subject_types_supported: ['pairwise'],
      });
      expect(res.body.response_types_supported).to.deep.equal(['code']);
      expect(res.body.claims_supported).to.include.members(['iss', 'aud', 'sub', 'client_id', 'exp', 'sid']);
    }
    const [oidc, oauth] = await Promise.all(DOCUMENTS.map((path) => h.http.get(path)));
    expect(oauth!.body).to.deep.equal(oidc!.body);
  });

  it('keeps URLs under PUBLIC_URL and names JWT_ISSUER as the issuer when that is set', async () => {
    const own = await startHarness({
      store: 'memory',
      env: { PUBLIC_URL: 'https://auth.example.com', JWT_ISSUER: 'urn:example:wxauth' },
    });
    try {
      const res = await own.http.get(DOCUMENTS[0]!).expect(200);
      expect(res.body.issuer).to.equal('urn:example:wxauth');
      expect(res.body.jwks_uri).to.equal('https://auth.example.com/.well-known/jwks.json');
      expect(decodeJwt((await own.login()).access_token).iss).to.equal('urn:example:wxauth');
    } finally {
      await own.close();
    }
  });
});

describe('POST /auth/refresh as an OAuth 2.0 token endpoint', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ store: 'memory' });
  });
  after(async () => {
    await h.close();
  });

  const form = (body: string) =>
    h.http.post('/auth/refresh').set('Content-Type', 'application/x-www-form-urlencoded').send(body);

  it("takes RFC 6749's form grant_type=refresh_token&refresh_token=…", async () => {
    const login = await h.login();
    const res = await form(
      `grant_type=refresh_token&refresh_token=${encodeURIComponent(login.refresh_token)}`,
    );
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.body).to.include({ token_type: 'Bearer', openid: login.openid });
    expect(res.headers['cache-control']).to.equal('no-store');
    const json = await h.http
      .post('/auth/refresh')
      .send({ grant_type: 'refresh_token', refresh_token: res.body.refresh_token })
      .expect(200);
    expect(json.body.refresh_token).not.to.equal(res.body.refresh_token);
  });

  it('refuses another grant_type with invalid_request naming the one it takes', async () => {
    const login = await h.login();
    const res = await form(
      `grant_type=authorization_code&refresh_token=${encodeURIComponent(login.refresh_token)}`,
    );
    expect(res.status).to.equal(400);
    expect(res.body.error).to.equal('invalid_request');
    expect(res.body.error_description).to.contain('refresh_token');
    // The token was not used: it still rotates.
    await form(`grant_type=refresh_token&refresh_token=${encodeURIComponent(login.refresh_token)}`).expect(
      200,
    );
  });
});

describe('the OpenAPI document', () => {
  it("names the key set's algorithms, not a fixed one", async () => {
    const doc = openApiDocument({ algorithms: ['RS256', 'EdDSA'] });
    expect(doc.components.securitySchemes.bearer.bearerFormat).to.equal('JWT (at+jwt, RS256 or EdDSA)');
    const h = await startHarness({ store: 'memory' });
    try {
      const served = await h.http.get('/openapi.json').expect(200);
      expect(served.body.components.securitySchemes.bearer.bearerFormat).to.equal('JWT (at+jwt, ES256)');
      for (const path of [...DOCUMENTS, '/auth/verify']) expect(served.body.paths).to.have.property(path);
    } finally {
      await h.close();
    }
  });
});
