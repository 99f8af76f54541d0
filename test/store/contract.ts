import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { LoginWrite, RotateRequest, SessionStore } from '../../src/store/index.js';

/**
 * A fixed clock far in the past: expiry must come from the nowMs arguments, and Redis TTLs must be set
 * relative to them (a PEXPIREAT to 2001 would delete the key at once).
 */
export const T0 = Date.UTC(2001, 0, 1);
const REFRESH_TTL_S = 3600;
const GRACE_S = 10;
export const MAX_SESSIONS = 50;

/** A refresh token as the service makes it, and the hash the store sees. */
export function refreshToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: createHash('sha256').update(token).digest('base64url') };
}

let counter = 0;
/** A 28-character openid like WeChat's. */
export function openid(): string {
  counter += 1;
  return `oTest${String(counter).padStart(6, '0')}${randomBytes(15).toString('base64url')}`.slice(0, 28);
}

export function familyId(): string {
  return randomBytes(16).toString('base64url');
}

export function login(overrides: Partial<LoginWrite> = {}): LoginWrite {
  return {
    openid: openid(),
    sessionKey: randomBytes(16).toString('base64'),
    familyId: familyId(),
    tokenHash: refreshToken().hash,
    nowMs: T0,
    refreshTtlS: REFRESH_TTL_S,
    maxSessions: MAX_SESSIONS,
    ...overrides,
  };
}

/** The rotation of `presentedHash` in the family `of` opened, to a fresh successor. */
export function rotation(
  of: LoginWrite,
  presentedHash: string,
  overrides: Partial<RotateRequest> = {},
): RotateRequest {
  const next = refreshToken();
  return {
    openid: of.openid,
    familyId: of.familyId,
    presentedHash,
    nextHash: next.hash,
    successorSeed: `sealed:${next.token}`,
    nowMs: T0 + 1000,
    refreshTtlS: REFRESH_TTL_S,
    graceS: GRACE_S,
    ...overrides,
  };
}

export function describeStoreContract(
  name: string,
  makeStore: () => Promise<{ store: SessionStore; cleanup(): Promise<void> }>,
): void {
  describe(`${name} (SessionStore contract)`, () => {
    let store: SessionStore;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, cleanup } = await makeStore());
    });

    afterEach(async () => {
      await cleanup();
    });

    describe('recordLogin and getUser', () => {
      it('answers isNewUser true for the first login of a user and false afterwards', async () => {
        const first = login();
        expect(await store.recordLogin(first)).to.deep.equal({ isNewUser: true, sessionsEnded: 0 });
        const second = login({ openid: first.openid, nowMs: T0 + 5000 });
        expect(await store.recordLogin(second)).to.deep.equal({ isNewUser: false, sessionsEnded: 0 });
      });

      it('keeps the first login time and updates the last login time and the session_key', async () => {
        const first = login();
        await store.recordLogin(first);
        await store.recordLogin(login({ openid: first.openid, sessionKey: 'second-key', nowMs: T0 + 5000 }));
        expect(await store.getUser(first.openid)).to.deep.equal({
          sessionKey: 'second-key',
          firstLoginAtMs: T0,
          lastLoginAtMs: T0 + 5000,
        });
      });

      it('stores the unionid when WeChat gave one and keeps it when a later login has none', async () => {
        const first = login({ unionid: 'oUnion0123456789abcdefghijkl' });
        await store.recordLogin(first);
        expect((await store.getUser(first.openid))?.unionid).to.equal('oUnion0123456789abcdefghijkl');
        await store.recordLogin(login({ openid: first.openid, nowMs: T0 + 5000 }));
        expect((await store.getUser(first.openid))?.unionid).to.equal('oUnion0123456789abcdefghijkl');
      });

      it('answers a record without unionid when none was ever given', async () => {
        const first = login();
        await store.recordLogin(first);
        const user = await store.getUser(first.openid);
        expect(user).to.deep.equal({ sessionKey: first.sessionKey, firstLoginAtMs: T0, lastLoginAtMs: T0 });
        expect(user).not.to.have.property('unionid');
      });

      it('answers null for a user who never logged in', async () => {
        expect(await store.getUser(openid())).to.equal(null);
      });

      it('opens a separate family for each login of the same user', async () => {
        const first = login();
        const second = login({ openid: first.openid });
        await store.recordLogin(first);
        await store.recordLogin(second);
        expect((await store.rotateRefresh(rotation(first, first.tokenHash))).kind).to.equal('rotated');
        expect((await store.rotateRefresh(rotation(second, second.tokenHash))).kind).to.equal('rotated');
      });
    });

    describe('the session cap (maxSessions)', () => {
      it('ends the session closest to its end when a login goes past the cap, and says so', async () => {
        const first = login({ maxSessions: 3 });
        const rest = [1, 2].map((i) => login({ openid: first.openid, nowMs: T0 + i, maxSessions: 3 }));
        for (const each of [first, ...rest]) await store.recordLogin(each);
        // The first one is used now, so the second is the least recently used.
        await store.rotateRefresh(rotation(first, first.tokenHash, { nowMs: T0 + 10 }));
        const fourth = login({ openid: first.openid, nowMs: T0 + 20, maxSessions: 3 });
        expect(await store.recordLogin(fourth)).to.deep.equal({ isNewUser: false, sessionsEnded: 1 });
        const at = { nowMs: T0 + 30 };
        expect((await store.rotateRefresh(rotation(rest[0]!, rest[0]!.tokenHash, at))).kind).to.equal(
          'invalid',
        );
        for (const live of [rest[1]!, fourth]) {
          expect((await store.rotateRefresh(rotation(live, live.tokenHash, at))).kind).to.equal('rotated');
        }
      });

      it('counts expired sessions for nothing: they end first, and no live one is ended for them', async () => {
        const short = login({ refreshTtlS: 60, maxSessions: 2 });
        await store.recordLogin(short);
        const live = login({ openid: short.openid, maxSessions: 2 });
        await store.recordLogin(live);
        const later = login({ openid: short.openid, nowMs: T0 + 61_000, maxSessions: 2 });
        expect(await store.recordLogin(later)).to.deep.equal({ isNewUser: false, sessionsEnded: 0 });
        const at = { nowMs: T0 + 62_000 };
        expect((await store.rotateRefresh(rotation(live, live.tokenHash, at))).kind).to.equal('rotated');
      });

      it('keeps a user at the cap however many times they log in, and logout-all ends exactly those', async () => {
        const first = login({ maxSessions: 5 });
        await store.recordLogin(first);
        let ended = 0;
        for (let i = 1; i < 40; i += 1) {
          ended += (await store.recordLogin(login({ openid: first.openid, nowMs: T0 + i, maxSessions: 5 })))
            .sessionsEnded;
        }
        expect(ended).to.equal(35);
        expect(await store.endAllFamilies(first.openid)).to.equal(5);
      });
    });

    describe('rotateRefresh', () => {
      it('rotates the current token, and then the new one rotates in turn', async () => {
        const opened = login();
        await store.recordLogin(opened);
        const first = rotation(opened, opened.tokenHash, { nowMs: T0 + 1000 });
        expect(await store.rotateRefresh(first)).to.deep.equal({
          kind: 'rotated',
          expiresAtMs: T0 + 1000 + REFRESH_TTL_S * 1000,
        });
        const second = rotation(opened, first.nextHash, { nowMs: T0 + 60_000 });
        expect(await store.rotateRefresh(second)).to.deep.equal({
          kind: 'rotated',
          expiresAtMs: T0 + 60_000 + REFRESH_TTL_S * 1000,
        });
      });

      it('answers the unionid with a rotation and with a grace answer', async () => {
        const opened = login({ unionid: 'oUnion-abc' });
        await store.recordLogin(opened);
        const first = rotation(opened, opened.tokenHash);
        expect(await store.rotateRefresh(first)).to.include({ kind: 'rotated', unionid: 'oUnion-abc' });
        expect(await store.rotateRefresh(rotation(opened, opened.tokenHash))).to.include({
          kind: 'grace',
          unionid: 'oUnion-abc',
        });
      });

      it('answers grace with the same successorSeed when the previous token comes back within the grace window', async () => {
        const opened = login();
        await store.recordLogin(opened);
        const first = rotation(opened, opened.tokenHash, { nowMs: T0 + 1000 });
        await store.rotateRefresh(first);
        const retried = rotation(opened, opened.tokenHash, { nowMs: T0 + 1000 + GRACE_S * 1000 - 1 });
        expect(await store.rotateRefresh(retried)).to.deep.equal({
          kind: 'grace',
          successorSeed: first.successorSeed,
          expiresAtMs: T0 + 1000 + REFRESH_TTL_S * 1000,
        });
      });

      it('changes nothing on a grace answer: the successor stays current and the grace answer repeats', async () => {
        const opened = login();
        await store.recordLogin(opened);
        const first = rotation(opened, opened.tokenHash, { nowMs: T0 + 1000 });
        await store.rotateRefresh(first);
        for (let i = 0; i < 3; i += 1) {
          const retried = await store.rotateRefresh(rotation(opened, opened.tokenHash, { nowMs: T0 + 2000 }));
          expect(retried).to.include({ kind: 'grace', successorSeed: first.successorSeed });
        }
        const next = await store.rotateRefresh(rotation(opened, first.nextHash, { nowMs: T0 + 3000 }));
        expect(next).to.deep.equal({ kind: 'rotated', expiresAtMs: T0 + 3000 + REFRESH_TTL_S * 1000 });
      });

      it('answers reused and ends the family when the previous token comes back after the grace window', async () => {
        const opened = login();
        await store.recordLogin(opened);
        const first = rotation(opened, opened.tokenHash, { nowMs: T0 + 1000 });
        await store.rotateRefresh(first);
        const late = rotation(opened, opened.tokenHash, { nowMs: T0 + 1000 + GRACE_S * 1000 });
        expect(await store.rotateRefresh(late)).to.deep.equal({ kind: 'reused' });
        // The thief's successor dies with the victim's: even the current token is refused now.
        const current = rotation(opened, first.nextHash, { nowMs: T0 + 1000 + GRACE_S * 1000 + 1 });
        expect(await store.rotateRefresh(current)).to.deep.equal({ kind: 'invalid' });
      });

      it('answers reused when a token from two rotations back comes back, even within the grace window', async () => {
        const opened = login();
        await store.recordLogin(opened);
        const first = rotation(opened, opened.tokenHash, { nowMs: T0 + 1000 });
        await store.rotateRefresh(first);
        await store.rotateRefresh(rotation(opened, first.nextHash, { nowMs: T0 + 2000 }));
        const old = rotation(opened, opened.tokenHash, { nowMs: T0 + 3000 });
        expect(await store.rotateRefresh(old)).to.deep.equal({ kind: 'reused' });
        expect(
          await store.rotateRefresh(rotation(opened, first.nextHash, { nowMs: T0 + 3000 })),
        ).to.deep.equal({
          kind: 'invalid',
        });
      });

      it('answers reused at once for the previous token when the grace window is 0', async () => {
        const opened = login();
        await store.recordLogin(opened);
        await store.rotateRefresh(rotation(opened, opened.tokenHash, { nowMs: T0 + 1000, graceS: 0 }));
        const again = rotation(opened, opened.tokenHash, { nowMs: T0 + 1000, graceS: 0 });
        expect(await store.rotateRefresh(again)).to.deep.equal({ kind: 'reused' });
      });

      it('answers reused for a token the family never held and ends the family', async () => {
        const opened = login();
        await store.recordLogin(opened);
        expect(await store.rotateRefresh(rotation(opened, refreshToken().hash))).to.deep.equal({
          kind: 'reused',
        });
        expect(await store.rotateRefresh(rotation(opened, opened.tokenHash))).to.deep.equal({
          kind: 'invalid',
        });
      });

      it('answers invalid for an unknown family', async () => {
        const opened = login();
        await store.recordLogin(opened);
        const unknown = rotation({ ...opened, familyId: familyId() }, opened.tokenHash);
        expect(await store.rotateRefresh(unknown)).to.deep.equal({ kind: 'invalid' });
        expect((await store.rotateRefresh(rotation(opened, opened.tokenHash))).kind).to.equal('rotated');
      });

      it('answers invalid from the expiry millisecond on and changes nothing', async () => {
        const opened = login();
        await store.recordLogin(opened);
        const expired = rotation(opened, opened.tokenHash, { nowMs: T0 + REFRESH_TTL_S * 1000 });
        expect(await store.rotateRefresh(expired)).to.deep.equal({ kind: 'invalid' });
        const justBefore = rotation(opened, opened.tokenHash, { nowMs: T0 + REFRESH_TTL_S * 1000 - 1 });
        expect((await store.rotateRefresh(justBefore)).kind).to.equal('rotated');
      });

      it('answers invalid for the previous token once the family expired, without a reuse verdict', async () => {
        const opened = login();
        await store.recordLogin(opened);
        await store.rotateRefresh(rotation(opened, opened.tokenHash, { nowMs: T0 + 1000 }));
        const late = rotation(opened, opened.tokenHash, { nowMs: T0 + 1000 + REFRESH_TTL_S * 1000 });
        expect(await store.rotateRefresh(late)).to.deep.equal({ kind: 'invalid' });
      });

      it('slides the expiry: each rotation starts the refresh lifetime again', async () => {
        const opened = login();
        await store.recordLogin(opened);
        let current = opened.tokenHash;
        let now = T0;
        for (let i = 0; i < 3; i += 1) {
          now += REFRESH_TTL_S * 1000 - 1; // just before the family would expire
          const step = rotation(opened, current, { nowMs: now });
          expect(await store.rotateRefresh(step)).to.deep.equal({
            kind: 'rotated',
            expiresAtMs: now + REFRESH_TTL_S * 1000,
          });
          current = step.nextHash;
        }
      });

      it('caps the sliding expiry at the absolute lifetime and refuses the family after it', async () => {
        const opened = login({ absoluteTtlS: 2 * REFRESH_TTL_S });
        await store.recordLogin(opened);
        const absAtMs = T0 + 2 * REFRESH_TTL_S * 1000;
        const first = rotation(opened, opened.tokenHash, { nowMs: T0 + REFRESH_TTL_S * 1000 - 1 });
        expect(await store.rotateRefresh(first)).to.deep.equal({
          kind: 'rotated',
          expiresAtMs: T0 + 2 * REFRESH_TTL_S * 1000 - 1,
        });
        const second = rotation(opened, first.nextHash, { nowMs: T0 + 2 * REFRESH_TTL_S * 1000 - 2 });
        expect(await store.rotateRefresh(second)).to.deep.equal({ kind: 'rotated', expiresAtMs: absAtMs });
        const after = rotation(opened, second.nextHash, { nowMs: absAtMs });
        expect(await store.rotateRefresh(after)).to.deep.equal({ kind: 'invalid' });
      });

      it('caps the first expiry at the absolute lifetime when it is shorter than the refresh lifetime', async () => {
        const opened = login({ absoluteTtlS: 60 });
        await store.recordLogin(opened);
        expect(
          await store.rotateRefresh(rotation(opened, opened.tokenHash, { nowMs: T0 + 60_000 })),
        ).to.deep.equal({
          kind: 'invalid',
        });
        const fresh = login({ absoluteTtlS: 60 });
        await store.recordLogin(fresh);
        expect(
          await store.rotateRefresh(rotation(fresh, fresh.tokenHash, { nowMs: T0 + 1000 })),
        ).to.deep.equal({
          kind: 'rotated',
          expiresAtMs: T0 + 60_000,
        });
      });

      it("keeps two users' families apart even when their family ids are equal", async () => {
        const victim = login();
        await store.recordLogin(victim);
        const other = login({ familyId: victim.familyId });
        await store.recordLogin(other);
        const crossed = rotation({ ...other }, victim.tokenHash);
        expect(await store.rotateRefresh(crossed)).to.deep.equal({ kind: 'reused' });
        // Only the presenter's own family (keyed by its openid) ended; the victim's lives on.
        expect((await store.rotateRefresh(rotation(victim, victim.tokenHash))).kind).to.equal('rotated');
      });

      it('answers exactly one of six concurrent rotations of the same token rotated, the others grace with its successor', async () => {
        const opened = login();
        await store.recordLogin(opened);
        const attempts = Array.from({ length: 6 }, () => rotation(opened, opened.tokenHash));
        const outcomes = await Promise.all(attempts.map((attempt) => store.rotateRefresh(attempt)));
        const rotated = outcomes.flatMap((outcome, i) => (outcome.kind === 'rotated' ? [attempts[i]!] : []));
        expect(rotated).to.have.length(1);
        const winner = rotated[0]!;
        const graces = outcomes.filter((outcome) => outcome.kind === 'grace');
        expect(graces).to.have.length(5);
        for (const grace of graces) expect(grace).to.include({ successorSeed: winner.successorSeed });
        const next = rotation(opened, winner.nextHash, { nowMs: T0 + 2000 });
        expect((await store.rotateRefresh(next)).kind).to.equal('rotated');
      });
    });

    describe('endFamily', () => {
      it('ends the family when given its current token', async () => {
        const opened = login();
        await store.recordLogin(opened);
        expect(await store.endFamily(opened.openid, opened.familyId, opened.tokenHash)).to.equal(true);
        expect(await store.rotateRefresh(rotation(opened, opened.tokenHash))).to.deep.equal({
          kind: 'invalid',
        });
      });

      it('ends the family when given its previous token', async () => {
        const opened = login();
        await store.recordLogin(opened);
        const first = rotation(opened, opened.tokenHash);
        await store.rotateRefresh(first);
        expect(await store.endFamily(opened.openid, opened.familyId, opened.tokenHash)).to.equal(true);
        expect(await store.rotateRefresh(rotation(opened, first.nextHash))).to.deep.equal({
          kind: 'invalid',
        });
      });

      it('answers false and ends nothing for a token the family does not hold as current or previous', async () => {
        const opened = login();
        await store.recordLogin(opened);
        const first = rotation(opened, opened.tokenHash, { nowMs: T0 + 1000 });
        await store.rotateRefresh(first);
        const second = rotation(opened, first.nextHash, { nowMs: T0 + 2000 });
        await store.rotateRefresh(second);
        expect(await store.endFamily(opened.openid, opened.familyId, opened.tokenHash)).to.equal(false);
        expect(await store.endFamily(opened.openid, opened.familyId, refreshToken().hash)).to.equal(false);
        const next = rotation(opened, second.nextHash, { nowMs: T0 + 3000 });
        expect((await store.rotateRefresh(next)).kind).to.equal('rotated');
      });

      it("answers false for an unknown family and for another user's family", async () => {
        const opened = login();
        await store.recordLogin(opened);
        expect(await store.endFamily(opened.openid, familyId(), opened.tokenHash)).to.equal(false);
        expect(await store.endFamily(openid(), opened.familyId, opened.tokenHash)).to.equal(false);
        expect((await store.rotateRefresh(rotation(opened, opened.tokenHash))).kind).to.equal('rotated');
      });

      it('answers false for a family already ended', async () => {
        const opened = login();
        await store.recordLogin(opened);
        await store.endFamily(opened.openid, opened.familyId, opened.tokenHash);
        expect(await store.endFamily(opened.openid, opened.familyId, opened.tokenHash)).to.equal(false);
      });

      it('leaves the other families of the user alive', async () => {
        const first = login();
        const second = login({ openid: first.openid });
        await store.recordLogin(first);
        await store.recordLogin(second);
        await store.endFamily(first.openid, first.familyId, first.tokenHash);
        expect((await store.rotateRefresh(rotation(second, second.tokenHash))).kind).to.equal('rotated');
      });
    });

    describe('endAllFamilies', () => {
      it('ends every family of the user and answers how many there were', async () => {
        const logins = [login()];
        for (let i = 0; i < 3; i += 1) logins.push(login({ openid: logins[0]!.openid }));
        for (const each of logins) await store.recordLogin(each);
        await store.rotateRefresh(rotation(logins[1]!, logins[1]!.tokenHash));
        expect(await store.endAllFamilies(logins[0]!.openid)).to.equal(4);
        for (const each of logins) {
          expect(
            await store.rotateRefresh(rotation(each, each.tokenHash, { nowMs: T0 + 2000 })),
          ).to.deep.equal({
            kind: 'invalid',
          });
        }
        expect(await store.endAllFamilies(logins[0]!.openid)).to.equal(0);
      });

      it('does not count families already ended', async () => {
        const first = login();
        const second = login({ openid: first.openid });
        await store.recordLogin(first);
        await store.recordLogin(second);
        await store.endFamily(first.openid, first.familyId, first.tokenHash);
        expect(await store.endAllFamilies(first.openid)).to.equal(1);
      });

      it('answers 0 for a user without families', async () => {
        expect(await store.endAllFamilies(openid())).to.equal(0);
      });

      it("keeps the user record and other users' families", async () => {
        const mine = login();
        const theirs = login();
        await store.recordLogin(mine);
        await store.recordLogin(theirs);
        await store.endAllFamilies(mine.openid);
        expect(await store.getUser(mine.openid)).to.include({ sessionKey: mine.sessionKey });
        expect((await store.rotateRefresh(rotation(theirs, theirs.tokenHash))).kind).to.equal('rotated');
      });

      it('lets the user log in again afterwards', async () => {
        const first = login();
        await store.recordLogin(first);
        await store.endAllFamilies(first.openid);
        const again = login({ openid: first.openid, nowMs: T0 + 5000 });
        expect(await store.recordLogin(again)).to.deep.equal({ isNewUser: false, sessionsEnded: 0 });
        const next = rotation(again, again.tokenHash, { nowMs: T0 + 6000 });
        expect((await store.rotateRefresh(next)).kind).to.equal('rotated');
      });
    });

    describe('the shared WeChat access_token', () => {
      it('answers null before any token was put', async () => {
        expect(await store.getWechatAccessToken(T0)).to.equal(null);
      });

      it('answers the token put, with its expiry, until the expiry millisecond and null from it on', async () => {
        await store.putWechatAccessToken('token-1', T0 + 60_000, T0);
        const cached = { token: 'token-1', expiresAtMs: T0 + 60_000 };
        expect(await store.getWechatAccessToken(T0)).to.deep.equal(cached);
        expect(await store.getWechatAccessToken(T0 + 59_999)).to.deep.equal(cached);
        expect(await store.getWechatAccessToken(T0 + 60_000)).to.equal(null);
      });

      it('replaces the cached token with the one put last', async () => {
        await store.putWechatAccessToken('token-1', T0 + 60_000, T0);
        await store.putWechatAccessToken('token-2', T0 + 120_000, T0 + 1000);
        expect(await store.getWechatAccessToken(T0 + 1000)).to.deep.equal({
          token: 'token-2',
          expiresAtMs: T0 + 120_000,
        });
      });

      it('keeps a token whatever characters it holds, colons included', async () => {
        const token = '86_aB-c:d/e+f=:';
        await store.putWechatAccessToken(token, T0 + 60_000, T0);
        expect((await store.getWechatAccessToken(T0))?.token).to.equal(token);
        expect(await store.invalidateWechatAccessToken(token)).to.equal(true);
      });

      it('invalidates the cached token only when it is the one named', async () => {
        await store.putWechatAccessToken('fresh', T0 + 60_000, T0);
        expect(await store.invalidateWechatAccessToken('stale')).to.equal(false);
        expect((await store.getWechatAccessToken(T0))?.token).to.equal('fresh');
        expect(await store.invalidateWechatAccessToken('fresh')).to.equal(true);
        expect(await store.getWechatAccessToken(T0)).to.equal(null);
        expect(await store.invalidateWechatAccessToken('fresh')).to.equal(false);
      });
    });

    describe('locks', () => {
      const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

      it('lets one owner hold a lock at a time, the same owner included', async () => {
        expect(await store.acquireLock('fetch', 'a', 10_000)).to.equal(true);
        expect(await store.acquireLock('fetch', 'b', 10_000)).to.equal(false);
        expect(await store.acquireLock('fetch', 'a', 10_000)).to.equal(false);
      });

      it('gives exactly one of ten concurrent callers the lock', async () => {
        const owners = Array.from({ length: 10 }, (_, i) => `owner-${i}`);
        const won = await Promise.all(owners.map((owner) => store.acquireLock('fetch', owner, 10_000)));
        expect(won.filter(Boolean)).to.have.length(1);
      });

      it('keeps locks of different names apart', async () => {
        expect(await store.acquireLock('one', 'a', 10_000)).to.equal(true);
        expect(await store.acquireLock('two', 'b', 10_000)).to.equal(true);
      });

      it('is released by its owner, and then free for another', async () => {
        await store.acquireLock('fetch', 'a', 10_000);
        expect(await store.releaseLock('fetch', 'a')).to.equal(true);
        expect(await store.acquireLock('fetch', 'b', 10_000)).to.equal(true);
      });

      it('is not released by anyone but its owner', async () => {
        await store.acquireLock('fetch', 'a', 10_000);
        expect(await store.releaseLock('fetch', 'b')).to.equal(false);
        expect(await store.acquireLock('fetch', 'b', 10_000)).to.equal(false);
        expect(await store.releaseLock('nothing-held', 'a')).to.equal(false);
      });

      it('ends by itself after its ttl, in real time, and then its former owner cannot release the new one', async () => {
        expect(await store.acquireLock('fetch', 'a', 40)).to.equal(true);
        await sleep(80);
        expect(await store.acquireLock('fetch', 'b', 10_000)).to.equal(true);
        expect(await store.releaseLock('fetch', 'a')).to.equal(false);
        expect(await store.acquireLock('fetch', 'c', 10_000)).to.equal(false);
      });
    });

    describe('ping', () => {
      it('resolves while the store answers', async () => {
        await store.ping();
      });
    });

    describe('login codes (the double-submit single flight)', () => {
      const code = () => refreshToken().hash;

      it('lets the first caller claim a code and tells the next one it is pending', async () => {
        const hash = code();
        expect(await store.claimLoginCode(hash, 60_000)).to.deep.equal({ state: 'claimed' });
        expect(await store.claimLoginCode(hash, 60_000)).to.deep.equal({ state: 'pending' });
      });

      it('gives exactly one of ten concurrent callers the claim', async () => {
        const hash = code();
        const claims = await Promise.all(
          Array.from({ length: 10 }, () => store.claimLoginCode(hash, 60_000)),
        );
        expect(claims.filter((c) => c.state === 'claimed')).to.have.length(1);
        expect(claims.filter((c) => c.state === 'pending')).to.have.length(9);
      });

      it('answers the completed result to every later caller, whatever characters it holds', async () => {
        const hash = code();
        await store.claimLoginCode(hash, 60_000);
        const sealed = 'sealed:result/with+odd=chars';
        await store.completeLoginCode(hash, sealed);
        expect(await store.claimLoginCode(hash, 60_000)).to.deep.equal({
          state: 'done',
          sealedResult: sealed,
        });
        expect(await store.claimLoginCode(hash, 60_000)).to.deep.equal({
          state: 'done',
          sealedResult: sealed,
        });
      });

      it('records no result for a code nobody claimed', async () => {
        const hash = code();
        await store.completeLoginCode(hash, 'sealed');
        expect(await store.claimLoginCode(hash, 60_000)).to.deep.equal({ state: 'claimed' });
      });

      it('forgets a pending claim on release, so a retry claims it again, but keeps a completed one', async () => {
        const pending = code();
        await store.claimLoginCode(pending, 60_000);
        await store.releaseLoginCode(pending);
        expect(await store.claimLoginCode(pending, 60_000)).to.deep.equal({ state: 'claimed' });

        const done = code();
        await store.claimLoginCode(done, 60_000);
        await store.completeLoginCode(done, 'sealed');
        await store.releaseLoginCode(done);
        expect(await store.claimLoginCode(done, 60_000)).to.deep.equal({
          state: 'done',
          sealedResult: 'sealed',
        });
      });

      it('ends a claim and its result after the claim ttl, in real time', async () => {
        const hash = code();
        await store.claimLoginCode(hash, 50);
        await store.completeLoginCode(hash, 'sealed');
        await new Promise((resolve) => setTimeout(resolve, 80));
        expect(await store.claimLoginCode(hash, 60_000)).to.deep.equal({ state: 'claimed' });
      });
    });
  });
}
