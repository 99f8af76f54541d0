import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { AuthorizationGrant, AuthorizationRequest, OAuthFlows } from '../../src/store/index.js';
import { familyId, openid, T0 } from './contract.js';

/** A digest as the flow names keys: base64url SHA-256 of a random secret. */
function digest(): string {
  return createHash('sha256').update(randomBytes(32)).digest('base64url');
}

function request(overrides: Partial<AuthorizationRequest> = {}): AuthorizationRequest {
  return {
    clientId: 'wx00000000000000aa',
    redirectUri: 'https://pages.example.com/cb',
    clientState: 'client state ✓',
    codeChallenge: createHash('sha256').update('verifier').digest('base64url'),
    nonce: 'n-0S6_WzA2Mj',
    scope: 'openid snsapi_base',
    createdAtMs: T0,
    ...overrides,
  };
}

function grant(overrides: Partial<AuthorizationGrant> = {}): AuthorizationGrant {
  return {
    clientId: 'wx00000000000000aa',
    redirectUri: 'https://pages.example.com/cb',
    codeChallenge: createHash('sha256').update('verifier').digest('base64url'),
    scope: 'openid',
    openid: openid(),
    unionid: 'oUnion000000000000000000000',
    authTimeMs: T0,
    expiresAtMs: T0 + 60_000,
    ...overrides,
  };
}

const KEEP_MS = 360_000;

/**
 * The OAuthFlows part of SessionStore, for every adapter: `a` and `b` are two instances on one store
 * (two service instances), so what one puts the other takes.
 */
export function describeOAuthFlowsContract(
  name: string,
  make: () => Promise<{ a: OAuthFlows; b: OAuthFlows; cleanup: () => Promise<void> }>,
): void {
  describe(`OAuthFlows contract: ${name}`, () => {
    let a: OAuthFlows;
    let b: OAuthFlows;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ a, b, cleanup } = await make());
    });
    afterEach(() => cleanup());

    it('gives an authorization request back once, to any instance, as it was put', async () => {
      const state = digest();
      const put = request();
      await a.putAuthorizationRequest(state, put, 600_000);
      expect(await b.takeAuthorizationRequest(state)).to.deep.equal(put);
      expect(await a.takeAuthorizationRequest(state)).to.equal(null);
    });

    it('keeps a request without the optional fields without inventing them', async () => {
      const state = digest();
      const { clientState: _s, nonce: _n, ...bare } = request();
      await a.putAuthorizationRequest(state, bare, 600_000);
      expect(await a.takeAuthorizationRequest(state)).to.deep.equal(bare);
    });

    it('gives one of two concurrent takes the request and the other null', async () => {
      const state = digest();
      await a.putAuthorizationRequest(state, request(), 600_000);
      const taken = await Promise.all([a.takeAuthorizationRequest(state), b.takeAuthorizationRequest(state)]);
      expect(taken.filter((r) => r !== null)).to.have.length(1);
    });

    it('forgets a request after its ttl', async () => {
      const state = digest();
      await a.putAuthorizationRequest(state, request(), 30);
      await new Promise((resolve) => setTimeout(resolve, 60));
      expect(await a.takeAuthorizationRequest(state)).to.equal(null);
    });

    it('answers an unknown state with null', async () => {
      expect(await a.takeAuthorizationRequest(digest())).to.equal(null);
    });

    it('redeems a code fresh once, then replayed with the session recorded for it', async () => {
      const code = digest();
      const put = grant();
      await a.putAuthorizationCode(code, put, KEEP_MS);
      expect(await b.redeemAuthorizationCode(code, T0 + 1000)).to.deep.equal({ kind: 'fresh', grant: put });
      const family = familyId();
      expect(await b.recordCodeSession(code, put.openid, family)).to.equal(false);
      expect(await a.redeemAuthorizationCode(code, T0 + 2000)).to.deep.equal({
        kind: 'replayed',
        openid: put.openid,
        familyId: family,
      });
    });

    it('answers a replay before the session is recorded without one, and tells the recording of it', async () => {
      const code = digest();
      const put = grant();
      await a.putAuthorizationCode(code, put, KEEP_MS);
      expect((await a.redeemAuthorizationCode(code, T0)).kind).to.equal('fresh');
      expect(await b.redeemAuthorizationCode(code, T0)).to.deep.equal({
        kind: 'replayed',
        openid: put.openid,
      });
      expect(await a.recordCodeSession(code, put.openid, familyId())).to.equal(true);
    });

    it('gives exactly one of concurrent redemptions the grant', async () => {
      const code = digest();
      await a.putAuthorizationCode(code, grant(), KEEP_MS);
      const outcomes = await Promise.all(
        [a, b, a, b].map((store) => store.redeemAuthorizationCode(code, T0 + 10)),
      );
      expect(outcomes.map((o) => o.kind).sort()).to.deep.equal(['fresh', 'replayed', 'replayed', 'replayed']);
    });

    it('answers expired at and after the expiry by the caller clock, and keeps it unused', async () => {
      const code = digest();
      await a.putAuthorizationCode(code, grant(), KEEP_MS);
      expect(await a.redeemAuthorizationCode(code, T0 + 60_000)).to.deep.equal({ kind: 'expired' });
      expect(await a.redeemAuthorizationCode(code, T0 + 59_999)).to.deep.include({ kind: 'fresh' });
    });

    it('answers replayed for a used code even past its expiry (until it is forgotten)', async () => {
      const code = digest();
      const put = grant();
      await a.putAuthorizationCode(code, put, KEEP_MS);
      await a.redeemAuthorizationCode(code, T0);
      expect(await a.redeemAuthorizationCode(code, T0 + 300_000)).to.deep.equal({
        kind: 'replayed',
        openid: put.openid,
      });
    });

    it('answers unknown for a code never put, and for one forgotten after keepMs', async () => {
      expect(await a.redeemAuthorizationCode(digest(), T0)).to.deep.equal({ kind: 'unknown' });
      const code = digest();
      await a.putAuthorizationCode(code, grant(), 30);
      await new Promise((resolve) => setTimeout(resolve, 60));
      expect(await a.redeemAuthorizationCode(code, T0)).to.deep.equal({ kind: 'unknown' });
    });

    it('records no session on a code never redeemed or unknown', async () => {
      const code = digest();
      const put = grant();
      await a.putAuthorizationCode(code, put, KEEP_MS);
      expect(await a.recordCodeSession(code, put.openid, familyId())).to.equal(false);
      expect(await a.recordCodeSession(digest(), put.openid, familyId())).to.equal(false);
      expect((await a.redeemAuthorizationCode(code, T0)).kind).to.equal('fresh');
    });
  });
}
