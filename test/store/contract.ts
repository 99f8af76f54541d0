import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { LoginWrite, RevocationFeedState, RotateRequest, SessionStore } from '../../src/store/index.js';

/**
 * A fixed clock far in the past: expiry must come from the nowMs arguments, and Redis TTLs must be set
 * relative to them (a PEXPIREAT to 2001 would delete the key at once).
 */
export const T0 = Date.UTC(2001, 0, 1);
const REFRESH_TTL_S = 3600;
const GRACE_S = 10;
export const MAX_SESSIONS = 50;

/** A refresh token as the service makes it, and the hash the store sees (its 32-byte SHA-256). */
export function refreshToken(): { token: string; hash: Buffer } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: createHash('sha256').update(token).digest() };
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
  presentedHash: Buffer,
  overrides: Partial<RotateRequest> = {},
): RotateRequest {
  const next = refreshToken();
  return {
    openid: of.openid,
    familyId: of.familyId,
    presentedHash,
    nextHash: next.hash,
    successorSeed: randomBytes(32),
    nowMs: T0 + 1000,
    refreshTtlS: REFRESH_TTL_S,
    graceS: GRACE_S,
    ...overrides,
  };
}

/** What a watcher of revocations was told, and a way to wait for it. */
export interface Watched {
  revoked: Set<string>;
  states: RevocationFeedState[];
  /** Resolves once every id was passed on (and the feed is live), or rejects after `ms`. */
  told(ids: readonly string[], ms?: number): Promise<void>;
}

export function watch(store: SessionStore, windowMs = 60_000): Watched {
  const watched: Watched = {
    revoked: new Set(),
    states: [],
    async told(ids, ms = 1000) {
      const deadline = Date.now() + ms;
      while (!ids.every((id) => watched.revoked.has(id)) || watched.states.at(-1) !== 'live') {
        if (Date.now() > deadline) {
          throw new Error(`not told of ${ids.filter((id) => !watched.revoked.has(id))} within ${ms} ms`);
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
  };
  store.watchRevocations(
    {
      revoked: (ids) => {
        for (const id of ids) watched.revoked.add(id);
      },
      state: (state) => void watched.states.push(state),
    },
    { windowMs },
  );
  return watched;
}

export function describeStoreContract(
  name: string,
  /** `peer`: another instance on the same data (for MemoryStore, the same object: it is one process). */
  makeStore: () => Promise<{ store: SessionStore; cleanup(): Promise<void>; peer?(): Promise<SessionStore> }>,
): void {
  describe(`${name} (SessionStore contract)`, () => {
    let store: SessionStore;
    let cleanup: () => Promise<void>;
    let peer: (() => Promise<SessionStore>) | undefined;

    beforeEach(async () => {
      ({ store, cleanup, peer } = await makeStore());
    });

    afterEach(async () => {
      await cleanup();
    });

    describe('recordLogin and getUser', () => {
      it('answers isNewUser true for the first login of a user and false afterwards', async () => {
        const first = login();
        expect(await store.recordLogin(first)).to.deep.equal({
          isNewUser: true,
          sessionsEnded: 0,
          unlinked: false,
        });
        const second = login({ openid: first.openid, nowMs: T0 + 5000 });
        expect(await store.recordLogin(second)).to.deep.equal({
          isNewUser: false,
          sessionsEnded: 0,
          unlinked: false,
        });
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

      it('answers the record without its session_key through getAccount, and null for a stranger', async () => {
        const first = login({ unionid: 'oUnion0123456789abcdefghijkl' });
        await store.recordLogin(first);
        expect(await store.getAccount(first.openid)).to.deep.equal({
          unionid: 'oUnion0123456789abcdefghijkl',
          firstLoginAtMs: T0,
          lastLoginAtMs: T0,
        });
        expect(await store.getAccount(openid())).to.equal(null);
      });
    });

    describe('a login without a session_key, while another session lives (whileLive)', () => {
      /** A web login: no session_key, a new family while `of`'s lives. */
      const web = (of: LoginWrite, nowMs = T0 + 1000): LoginWrite => {
        const { sessionKey: _, ...rest } = login({ openid: of.openid, nowMs });
        return { ...rest, whileLive: of.familyId };
      };

      it("opens a family while the named one lives, keeping the user's session_key", async () => {
        const phone = login();
        await store.recordLogin(phone);
        const opened = web(phone);
        expect(await store.recordLogin(opened)).to.deep.equal({
          isNewUser: false,
          sessionsEnded: 0,
          unlinked: false,
        });
        expect((await store.getUser(phone.openid))?.sessionKey).to.equal(phone.sessionKey);
        expect((await store.listSessions(phone.openid, T0 + 1000)).map((s) => s.id)).to.have.members([
          phone.familyId,
          opened.familyId,
        ]);
      });

      it('answers ended and writes nothing once the named family ended, expired or never was', async () => {
        const phone = login();
        await store.recordLogin(phone);
        const tablet = login({ openid: phone.openid });
        await store.recordLogin(tablet);
        await store.endSession(phone.openid, phone.familyId, T0);
        expect(await store.recordLogin(web(phone))).to.deep.equal({ ended: true });
        expect(await store.recordLogin({ ...web(phone), whileLive: familyId() })).to.deep.equal({
          ended: true,
        });
        const late = T0 + 3600_000;
        expect(await store.recordLogin(web(tablet, late))).to.deep.equal({ ended: true });
        expect(await store.listSessions(phone.openid, T0 + 1000)).to.have.length(1);
        expect((await store.getAccount(phone.openid))?.lastLoginAtMs).to.equal(T0);
      });

      it('answers ended after logout-all, a ban or a deletion, and never makes a user record again', async () => {
        const [a, b, c] = [login(), login(), login()];
        for (const each of [a, b, c]) await store.recordLogin(each);
        await store.endAllFamilies(a.openid);
        await store.banUser(b.openid, {}, T0);
        await store.liftBan(b.openid);
        await store.deleteUser(c.openid);
        for (const each of [a, b, c])
          expect(await store.recordLogin(web(each))).to.deep.equal({ ended: true });
        expect(await store.getAccount(c.openid)).to.equal(null);
        expect(await store.listSessions(c.openid, T0 + 1000)).to.deep.equal([]);
      });

      it('answers ended to a login without a session_key for a user without a record, whileLive or not', async () => {
        const { sessionKey: _, ...stranger } = login();
        expect(await store.recordLogin(stranger)).to.deep.equal({ ended: true });
        expect(await store.getAccount(stranger.openid)).to.equal(null);
        expect(await store.listSessions(stranger.openid, T0)).to.deep.equal([]);
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
        expect(await store.recordLogin(fourth)).to.deep.equal({
          isNewUser: false,
          sessionsEnded: 1,
          unlinked: false,
        });
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
        expect(await store.recordLogin(later)).to.deep.equal({
          isNewUser: false,
          sessionsEnded: 0,
          unlinked: false,
        });
        const at = { nowMs: T0 + 62_000 };
        expect((await store.rotateRefresh(rotation(live, live.tokenHash, at))).kind).to.equal('rotated');
      });

      it('keeps a user at the cap however many times they log in, and logout-all ends exactly those', async () => {
        const first = login({ maxSessions: 5 });
        await store.recordLogin(first);
        let ended = 0;
        for (let i = 1; i < 40; i += 1) {
          const recorded = await store.recordLogin(
            login({ openid: first.openid, nowMs: T0 + i, maxSessions: 5 }),
          );
          if ('sessionsEnded' in recorded) ended += recorded.sessionsEnded;
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

      it('answers the successor seed exactly as given, whatever its bytes, and however the caller reuses its buffer', async () => {
        const seeds = [
          Buffer.alloc(0),
          Buffer.of(0),
          Buffer.of(1, 0xff),
          Buffer.from('sealed:✓'),
          randomBytes(64),
        ];
        for (const seed of seeds) {
          const opened = login();
          await store.recordLogin(opened);
          const given = Buffer.from(seed);
          await store.rotateRefresh(rotation(opened, opened.tokenHash, { successorSeed: given }));
          given.fill(7);
          const retried = await store.rotateRefresh(rotation(opened, opened.tokenHash, { nowMs: T0 + 2000 }));
          expect(retried, seed.toString('hex')).to.deep.include({ kind: 'grace', successorSeed: seed });
        }
      });

      it('compares token hashes by their bytes, not by the buffer passed', async () => {
        const opened = login();
        await store.recordLogin(opened);
        const first = rotation(opened, Buffer.from(opened.tokenHash), { nowMs: T0 + 1000 });
        expect((await store.rotateRefresh(first)).kind).to.equal('rotated');
        const again = rotation(opened, Buffer.from(opened.tokenHash), { nowMs: T0 + 2000 });
        expect((await store.rotateRefresh(again)).kind).to.equal('grace');
        expect(await store.endFamily(opened.openid, opened.familyId, Buffer.from(first.nextHash))).to.equal(
          true,
        );
      });

      it('changes nothing on a grace answer: the successor stays current and the grace answer repeats', async () => {
        const opened = login();
        await store.recordLogin(opened);
        const first = rotation(opened, opened.tokenHash, { nowMs: T0 + 1000 });
        await store.rotateRefresh(first);
        for (let i = 0; i < 3; i += 1) {
          const retried = await store.rotateRefresh(rotation(opened, opened.tokenHash, { nowMs: T0 + 2000 }));
          expect(retried).to.deep.include({ kind: 'grace', successorSeed: first.successorSeed });
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
        for (const grace of graces) expect(grace).to.deep.include({ successorSeed: winner.successorSeed });
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
        expect(await store.recordLogin(again)).to.deep.equal({
          isNewUser: false,
          sessionsEnded: 0,
          unlinked: false,
        });
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
      it("keeps each app's token apart from the first mini-program's and from each other", async () => {
        await store.putWechatAccessToken('first', T0 + 60_000, T0);
        await store.putWechatAccessToken('other', T0 + 60_000, T0, 'wxother');
        expect((await store.getWechatAccessToken(T0))?.token).to.equal('first');
        expect((await store.getWechatAccessToken(T0, 'wxother'))?.token).to.equal('other');
        expect(await store.getWechatAccessToken(T0, 'wxthird')).to.equal(null);
        expect(await store.invalidateWechatAccessToken('first', 'wxother')).to.equal(false);
        expect(await store.invalidateWechatAccessToken('other', 'wxother')).to.equal(true);
        expect((await store.getWechatAccessToken(T0))?.token).to.equal('first');
      });
    });

    describe('identities and persons (several apps)', () => {
      it('writes the app of an identity once, and answers it with the record and every rotation', async () => {
        const first = login({ appid: 'wxshop' });
        await store.recordLogin(first);
        await store.recordLogin(login({ openid: first.openid, appid: 'wxother' }));
        expect(await store.getAccount(first.openid)).to.include({ appid: 'wxshop' });
        expect((await store.getUser(first.openid))?.appid).to.equal('wxshop');
        expect(await store.rotateRefresh(rotation(first, first.tokenHash))).to.include({
          kind: 'rotated',
          appid: 'wxshop',
        });
      });

      it('keeps a mobile App identity without a session_key: known to getAccount, none to getUser', async () => {
        const app = login({ appid: 'wxapp', keyless: true, unionid: 'uPerson-app' });
        delete (app as { sessionKey?: string }).sessionKey;
        expect(await store.recordLogin(app)).to.deep.equal({
          isNewUser: true,
          sessionsEnded: 0,
          unlinked: true,
          unionid: 'uPerson-app',
        });
        expect(await store.getAccount(app.openid)).to.include({ appid: 'wxapp', unionid: 'uPerson-app' });
        expect(await store.getUser(app.openid)).to.equal(null);
        expect(await store.listSessions(app.openid, T0)).to.have.length(1);
      });

      it('answers unlinked until the identity is marked linked to its unionid, and again when the unionid changes', async () => {
        const first = login({ unionid: 'uPerson-1' });
        expect(await store.recordLogin(first)).to.include({ unlinked: true });
        expect(await store.rotateRefresh(rotation(first, first.tokenHash))).to.include({ unlinked: true });
        await store.markLinked(first.openid, 'uPerson-other');
        expect(await store.recordLogin(login({ openid: first.openid }))).to.include({ unlinked: true });
        await store.markLinked(first.openid, 'uPerson-1');
        // A login WeChat gave no unionid answers the one the record keeps.
        expect(await store.recordLogin(login({ openid: first.openid }))).to.include({
          unlinked: false,
          unionid: 'uPerson-1',
        });
        const again = login({ openid: first.openid, unionid: 'uPerson-1' });
        expect(await store.recordLogin(again)).to.include({ unlinked: false });
        const rotated = await store.rotateRefresh(rotation(again, again.tokenHash));
        expect(rotated).to.include({ kind: 'rotated', unionid: 'uPerson-1' });
        expect(rotated).not.to.have.property('unlinked');
        const none = login();
        expect(await store.recordLogin(none)).to.include({ unlinked: false });
      });

      it("lists a person's identities with their apps, and forgets the list on forgetPerson", async () => {
        expect(await store.personIdentities('uPerson-2')).to.deep.equal([]);
        expect(await store.linkIdentity('uPerson-2', { openid: 'oShop', appid: 'wxshop' }, T0)).to.deep.equal(
          {
            ban: null,
          },
        );
        await store.linkIdentity('uPerson-2', { openid: 'oApp', appid: 'wxapp' }, T0);
        await store.linkIdentity('uPerson-2', { openid: 'oOld', appid: undefined }, T0);
        await store.linkIdentity('uPerson-2', { openid: 'oApp', appid: 'wxapp' }, T0);
        const byOpenid = (ids: { openid: string }[]) =>
          [...ids].sort((a, b) => a.openid.localeCompare(b.openid));
        expect(byOpenid(await store.personIdentities('uPerson-2'))).to.deep.equal([
          { openid: 'oApp', appid: 'wxapp' },
          { openid: 'oOld', appid: undefined },
          { openid: 'oShop', appid: 'wxshop' },
        ]);
        expect(await store.personIdentities('uPerson-3')).to.deep.equal([]);
        await store.forgetPerson('uPerson-2');
        expect(await store.personIdentities('uPerson-2')).to.deep.equal([]);
      });

      it("answers the person's ban to an identity that links, until it lifts itself or is lifted; a forgotten person keeps it", async () => {
        await store.banPerson('uPerson-4', { reason: 'fraud', untilMs: T0 + 60_000 }, T0);
        expect(await store.getPersonBan('uPerson-4', T0)).to.deep.equal({
          reason: 'fraud',
          untilMs: T0 + 60_000,
        });
        expect(await store.linkIdentity('uPerson-4', { openid: 'oLate', appid: 'wxapp' }, T0)).to.deep.equal({
          ban: { reason: 'fraud', untilMs: T0 + 60_000 },
        });
        await store.forgetPerson('uPerson-4');
        expect(await store.getPersonBan('uPerson-4', T0 + 1)).to.deep.equal({
          reason: 'fraud',
          untilMs: T0 + 60_000,
        });
        expect(
          await store.linkIdentity('uPerson-4', { openid: 'oLater', appid: 'wxapp' }, T0 + 60_000),
        ).to.deep.equal({ ban: null });
        expect(await store.getPersonBan('uPerson-4', T0 + 60_000)).to.equal(null);
        await store.banPerson('uPerson-5', {}, T0);
        expect(await store.getPersonBan('uPerson-5', T0 + 10 ** 9)).to.deep.equal({});
        expect(await store.liftPersonBan('uPerson-5')).to.equal(true);
        expect(await store.liftPersonBan('uPerson-5')).to.equal(false);
        expect(await store.getPersonBan('uPerson-5', T0)).to.equal(null);
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
      /** As the service names a code: its SHA-256, base64url. */
      const code = () => refreshToken().hash.toString('base64url');

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

    describe('sessions: devices, the list, ending one by id', () => {
      it('lists the live sessions newest login first, with device, login, last refresh and expiry', async () => {
        const first = login({ device: 'iPhone 15 Pro; iOS 17.4; WeChat 8.0.47' });
        const second = login({ openid: first.openid, nowMs: T0 + 5000 });
        await store.recordLogin(first);
        await store.recordLogin(second);
        await store.rotateRefresh(rotation(first, first.tokenHash, { nowMs: T0 + 7000 }));
        expect(await store.listSessions(first.openid, T0 + 8000)).to.deep.equal([
          {
            id: second.familyId,
            createdAtMs: T0 + 5000,
            refreshedAtMs: undefined,
            expiresAtMs: T0 + 5000 + REFRESH_TTL_S * 1000,
            device: undefined,
          },
          {
            id: first.familyId,
            createdAtMs: T0,
            refreshedAtMs: T0 + 7000,
            expiresAtMs: T0 + 7000 + REFRESH_TTL_S * 1000,
            device: 'iPhone 15 Pro; iOS 17.4; WeChat 8.0.47',
          },
        ]);
      });

      it('keeps a device of any printable characters through rotations', async () => {
        const device = '华为 Mate 60 Pro；HarmonyOS 4.0 ✓ 微信 8.0.49';
        const opened = login({ device });
        await store.recordLogin(opened);
        const first = rotation(opened, opened.tokenHash, { nowMs: T0 + 1000 });
        await store.rotateRefresh(first);
        await store.rotateRefresh(rotation(opened, first.nextHash, { nowMs: T0 + 2000 }));
        expect((await store.listSessions(opened.openid, T0 + 3000))[0]?.device).to.equal(device);
      });

      it('leaves expired and ended sessions out of the list, and answers none for a stranger', async () => {
        const short = login({ refreshTtlS: 60 });
        const ended = login({ openid: short.openid });
        const live = login({ openid: short.openid });
        for (const each of [short, ended, live]) await store.recordLogin(each);
        await store.endFamily(ended.openid, ended.familyId, ended.tokenHash);
        const ids = (await store.listSessions(short.openid, T0 + 60_000)).map((session) => session.id);
        expect(ids).to.deep.equal([live.familyId]);
        expect(await store.listSessions(openid(), T0)).to.deep.equal([]);
      });

      it('ends one session by its id whatever its tokens, and leaves the others', async () => {
        const first = login();
        const second = login({ openid: first.openid });
        await store.recordLogin(first);
        await store.recordLogin(second);
        expect(await store.endSession(first.openid, first.familyId, T0 + 1000)).to.equal(true);
        expect((await store.rotateRefresh(rotation(first, first.tokenHash))).kind).to.equal('invalid');
        expect((await store.rotateRefresh(rotation(second, second.tokenHash))).kind).to.equal('rotated');
      });

      it("ends nothing for an unknown id, another user's or one already ended", async () => {
        const mine = login();
        const theirs = login();
        await store.recordLogin(mine);
        await store.recordLogin(theirs);
        expect(await store.endSession(mine.openid, familyId(), T0)).to.equal(false);
        expect(await store.endSession(mine.openid, theirs.familyId, T0)).to.equal(false);
        expect(await store.endSession(mine.openid, mine.familyId, T0)).to.equal(true);
        expect(await store.endSession(mine.openid, mine.familyId, T0)).to.equal(false);
        expect((await store.rotateRefresh(rotation(theirs, theirs.tokenHash))).kind).to.equal('rotated');
      });
    });

    describe('deleteUser', () => {
      it('deletes the user record and every session; a later login is a new user', async () => {
        const first = login({ unionid: 'oUnion-del' });
        const second = login({ openid: first.openid });
        await store.recordLogin(first);
        await store.recordLogin(second);
        expect(await store.deleteUser(first.openid)).to.deep.equal({ existed: true, sessionsEnded: 2 });
        expect(await store.getUser(first.openid)).to.equal(null);
        expect(await store.listSessions(first.openid, T0)).to.deep.equal([]);
        for (const each of [first, second]) {
          expect((await store.rotateRefresh(rotation(each, each.tokenHash))).kind).to.equal('invalid');
        }
        const again = login({ openid: first.openid, nowMs: T0 + 5000 });
        expect(await store.recordLogin(again)).to.deep.equal({
          isNewUser: true,
          sessionsEnded: 0,
          unlinked: false,
        });
        expect(await store.getUser(first.openid)).not.to.have.property('unionid');
      });

      it('answers that nothing existed for a user it never knew, and leaves others alone', async () => {
        const other = login();
        await store.recordLogin(other);
        expect(await store.deleteUser(openid())).to.deep.equal({ existed: false, sessionsEnded: 0 });
        expect(await store.getUser(other.openid)).to.include({ sessionKey: other.sessionKey });
      });

      it('keeps a ban through a deletion', async () => {
        const opened = login();
        await store.recordLogin(opened);
        await store.banUser(opened.openid, { reason: 'spam' }, T0);
        await store.deleteUser(opened.openid);
        expect(await store.getBan(opened.openid, T0)).to.deep.equal({ reason: 'spam' });
        expect(await store.recordLogin(login({ openid: opened.openid }))).to.deep.equal({
          banned: { reason: 'spam' },
        });
      });
    });

    describe('bans', () => {
      it("keeps the person's unionid a ban was set for, and answers it with the ban", async () => {
        const banned = login();
        await store.recordLogin(banned);
        await store.banUser(banned.openid, { reason: 'fraud', unionid: 'uPerson-ban' }, T0);
        expect(await store.getBan(banned.openid, T0)).to.deep.equal({
          reason: 'fraud',
          unionid: 'uPerson-ban',
        });
        await store.deleteUser(banned.openid);
        expect((await store.getBan(banned.openid, T0))?.unionid).to.equal('uPerson-ban');
      });

      it('refuses the login of a banned user and writes nothing', async () => {
        const id = openid();
        expect(await store.banUser(id, { reason: 'fraud', untilMs: T0 + 60_000 }, T0)).to.equal(0);
        expect(await store.getBan(id, T0)).to.deep.equal({ reason: 'fraud', untilMs: T0 + 60_000 });
        const refused = login({ openid: id, nowMs: T0 + 1000 });
        expect(await store.recordLogin(refused)).to.deep.equal({
          banned: { reason: 'fraud', untilMs: T0 + 60_000 },
        });
        expect(await store.getUser(id)).to.equal(null);
        expect(await store.listSessions(id, T0 + 1000)).to.deep.equal([]);
      });

      it('ends every session when it is set, and answers how many', async () => {
        const first = login();
        const second = login({ openid: first.openid });
        await store.recordLogin(first);
        await store.recordLogin(second);
        expect(await store.banUser(first.openid, {}, T0 + 1000)).to.equal(2);
        expect(await store.listSessions(first.openid, T0 + 1000)).to.deep.equal([]);
        expect(await store.getBan(first.openid, T0 + 1000)).to.deep.equal({});
        expect(await store.getUser(first.openid)).to.include({ sessionKey: second.sessionKey });
      });

      it('lifts itself at until, by the caller clock', async () => {
        const id = openid();
        await store.banUser(id, { untilMs: T0 + 60_000 }, T0);
        expect(await store.getBan(id, T0 + 59_999)).to.deep.equal({ untilMs: T0 + 60_000 });
        expect(await store.getBan(id, T0 + 60_000)).to.equal(null);
        const after = login({ openid: id, nowMs: T0 + 60_000 });
        expect(await store.recordLogin(after)).to.deep.equal({
          isNewUser: true,
          sessionsEnded: 0,
          unlinked: false,
        });
      });

      it('is lifted by liftBan, which answers whether there was one, and replaced by a new one', async () => {
        const id = openid();
        await store.banUser(id, { reason: 'first', untilMs: T0 + 60_000 }, T0);
        await store.banUser(id, { reason: 'second' }, T0 + 1000);
        expect(await store.getBan(id, T0 + 120_000)).to.deep.equal({ reason: 'second' });
        expect(await store.liftBan(id)).to.equal(true);
        expect(await store.liftBan(id)).to.equal(false);
        expect(await store.getBan(id, T0)).to.equal(null);
        expect('isNewUser' in (await store.recordLogin(login({ openid: id })))).to.equal(true);
      });

      it('leaves no live session when logins race a ban', async () => {
        const id = openid();
        const logins = Array.from({ length: 8 }, () => login({ openid: id }));
        const outcomes = await Promise.all([
          ...logins.slice(0, 4).map((each) => store.recordLogin(each)),
          store.banUser(id, { reason: 'race' }, T0),
          ...logins.slice(4).map((each) => store.recordLogin(each)),
        ]);
        expect(outcomes.some((outcome) => typeof outcome === 'object' && 'banned' in outcome)).to.equal(true);
        expect(await store.listSessions(id, T0)).to.deep.equal([]);
      });
    });

    describe('revocations', () => {
      it('tells a watcher of every family an ending ends, before the ending resolves', async () => {
        const watched = watch(store);
        await watched.told([]);
        const ids: string[] = [];
        const user = () => login({ maxSessions: 2 });

        const byToken = user();
        await store.recordLogin(byToken);
        await store.endFamily(byToken.openid, byToken.familyId, byToken.tokenHash);
        ids.push(byToken.familyId);
        expect(watched.revoked, 'endFamily').to.include(byToken.familyId);

        const byId = user();
        await store.recordLogin(byId);
        await store.endSession(byId.openid, byId.familyId, T0);
        expect(watched.revoked, 'endSession').to.include(byId.familyId);

        const all = [user()];
        all.push(login({ openid: all[0]!.openid }));
        for (const each of all) await store.recordLogin(each);
        await store.endAllFamilies(all[0]!.openid);
        for (const each of all) expect(watched.revoked, 'endAllFamilies').to.include(each.familyId);

        const deleted = user();
        await store.recordLogin(deleted);
        await store.deleteUser(deleted.openid);
        expect(watched.revoked, 'deleteUser').to.include(deleted.familyId);

        const banned = user();
        await store.recordLogin(banned);
        await store.banUser(banned.openid, {}, T0);
        expect(watched.revoked, 'banUser').to.include(banned.familyId);

        const reused = user();
        await store.recordLogin(reused);
        expect((await store.rotateRefresh(rotation(reused, refreshToken().hash))).kind).to.equal('reused');
        expect(watched.revoked, 'reuse').to.include(reused.familyId);

        const capped = user();
        await store.recordLogin(capped);
        await store.recordLogin(login({ openid: capped.openid, maxSessions: 2, nowMs: T0 + 1 }));
        await store.recordLogin(login({ openid: capped.openid, maxSessions: 2, nowMs: T0 + 2 }));
        expect(watched.revoked, 'the session cap').to.include(capped.familyId);
      });

      it('tells nothing of families that did not end', async () => {
        const watched = watch(store);
        await watched.told([]);
        const opened = login();
        await store.recordLogin(opened);
        await store.endFamily(opened.openid, opened.familyId, refreshToken().hash);
        await store.endSession(opened.openid, familyId(), T0);
        await store.rotateRefresh(rotation(opened, opened.tokenHash));
        expect(watched.revoked.has(opened.familyId)).to.equal(false);
      });

      it('tells another instance within a second, and one that starts later of what ended before', async () => {
        const opened = login();
        await store.recordLogin(opened);
        const other = (await peer?.()) ?? store;
        try {
          const watched = watch(other);
          await watched.told([]);
          await store.endSession(opened.openid, opened.familyId, T0);
          await watched.told([opened.familyId], 1000);
          const later = (await peer?.()) ?? store;
          try {
            await watch(later).told([opened.familyId], 1000);
          } finally {
            if (later !== store) await later.close();
          }
        } finally {
          if (other !== store) await other.close();
        }
      });

      it('leaves every family a logout-all ended told, and only those a later login opened alive, when logins race it', async () => {
        const watched = watch(store);
        await watched.told([]);
        const id = openid();
        const logins = Array.from({ length: 8 }, () => login({ openid: id }));
        await Promise.all([
          ...logins.slice(0, 4).map((each) => store.recordLogin(each)),
          store.endAllFamilies(id),
          ...logins.slice(4).map((each) => store.recordLogin(each)),
        ]);
        const alive = new Set((await store.listSessions(id, T0)).map((session) => session.id));
        for (const each of logins) {
          // Exactly one of the two: ended (and so its tokens refused) or alive.
          expect(alive.has(each.familyId), each.familyId).to.equal(!watched.revoked.has(each.familyId));
        }
      });

      it('leaves no live family when endings race refreshes, and tells of every family a refresh kept alive', async () => {
        const watched = watch(store);
        await watched.told([]);
        const opened = login();
        await store.recordLogin(opened);
        await Promise.all([
          store.rotateRefresh(rotation(opened, opened.tokenHash)),
          store.endAllFamilies(opened.openid),
          store.endSession(opened.openid, opened.familyId, T0 + 1000),
          store.rotateRefresh(rotation(opened, opened.tokenHash)),
        ]);
        expect(await store.listSessions(opened.openid, T0 + 1000)).to.deep.equal([]);
        // Whatever a refresh issued before the endings carries the family as sid, which is revoked.
        expect(watched.revoked).to.include(opened.familyId);
      });
    });
  });
}
