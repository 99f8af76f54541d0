import type { Clock } from '../lib/index.js';
import type {
  CachedAccessToken,
  LoginCodeClaim,
  LoginWrite,
  RotateOutcome,
  RotateRequest,
  SessionStore,
  UserRecord,
} from './types.js';

interface Family {
  cur: string;
  prev?: string;
  rotAtMs?: number;
  succ?: string;
  expAtMs: number;
  absAtMs?: number;
}

/** How often expired families are collected, ms. */
const SWEEP_INTERVAL_MS = 60_000;

/**
 * SessionStore in this process's memory: the zero-config default, for development only (sessions end
 * with the process and are not shared between instances). Same semantics as RedisStore; each method
 * runs without awaiting, so it is atomic in single-threaded JS.
 */
export class MemoryStore implements SessionStore {
  private readonly users = new Map<string, UserRecord>();
  /** openid → familyId → family. */
  private readonly families = new Map<string, Map<string, Family>>();
  private wechatAccessToken: CachedAccessToken | undefined;
  /** name → holder; `untilMs` is real time (Date.now()), as Redis measures PX. */
  private readonly locks = new Map<string, { owner: string; untilMs: number }>();
  /** codeHash → '' (pending) or the sealed result; `untilMs` is real time, as for locks. */
  private readonly loginCodes = new Map<string, { value: string; untilMs: number }>();
  private readonly clock: Clock | undefined;
  /** The latest nowMs callers gave: the sweep's notion of now when no clock was given. */
  private latestNowMs = Number.NEGATIVE_INFINITY;
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  /**
   * `clock` (the one the callers take nowMs from) decides what the periodic sweep collects; without it,
   * the latest nowMs seen does, so a test clock set in the past never loses live families.
   */
  constructor(options: { clock?: Clock } = {}) {
    this.clock = options.clock;
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  async recordLogin(login: LoginWrite): Promise<{ isNewUser: boolean; sessionsEnded: number }> {
    const now = this.enter(login.nowMs);
    const existing = this.users.get(login.openid);
    const user: UserRecord = {
      sessionKey: login.sessionKey,
      firstLoginAtMs: existing?.firstLoginAtMs ?? now,
      lastLoginAtMs: now,
    };
    const unionid = login.unionid ?? existing?.unionid;
    if (unionid !== undefined) user.unionid = unionid;
    this.users.set(login.openid, user);

    const absAtMs =
      login.absoluteTtlS === undefined ? undefined : now + Math.round(login.absoluteTtlS * 1000);
    const family: Family = {
      cur: login.tokenHash,
      expAtMs: Math.min(now + Math.round(login.refreshTtlS * 1000), absAtMs ?? Number.POSITIVE_INFINITY),
    };
    if (absAtMs !== undefined) family.absAtMs = absAtMs;
    const families = this.families.get(login.openid) ?? new Map<string, Family>();
    this.families.set(login.openid, families);
    for (const [id, other] of families) if (other.expAtMs <= now) families.delete(id);
    // As in Redis: the live ones closest to their end go first (ties: the older login).
    const over = families.size - login.maxSessions + 1;
    if (over > 0) {
      const byExpiry = [...families].sort(([, a], [, b]) => a.expAtMs - b.expAtMs);
      for (const [id] of byExpiry.slice(0, over)) families.delete(id);
    }
    families.set(login.familyId, family);
    return { isNewUser: existing === undefined, sessionsEnded: Math.max(over, 0) };
  }

  async getUser(openid: string): Promise<UserRecord | null> {
    this.enter();
    const user = this.users.get(openid);
    return user === undefined ? null : { ...user };
  }

  async rotateRefresh(rotation: RotateRequest): Promise<RotateOutcome> {
    const now = this.enter(rotation.nowMs);
    const families = this.families.get(rotation.openid);
    const family = families?.get(rotation.familyId);
    if (families === undefined || family === undefined || family.expAtMs <= now) return { kind: 'invalid' };
    const unionid = this.users.get(rotation.openid)?.unionid;

    if (rotation.presentedHash === family.cur) {
      family.prev = family.cur;
      family.cur = rotation.nextHash;
      family.rotAtMs = now;
      family.succ = rotation.successorSeed;
      family.expAtMs = Math.min(
        now + Math.round(rotation.refreshTtlS * 1000),
        family.absAtMs ?? Number.POSITIVE_INFINITY,
      );
      return { kind: 'rotated', expiresAtMs: family.expAtMs, ...optionalUnionid(unionid) };
    }
    if (
      rotation.presentedHash === family.prev &&
      family.rotAtMs !== undefined &&
      family.succ !== undefined &&
      now < family.rotAtMs + Math.round(rotation.graceS * 1000)
    ) {
      return {
        kind: 'grace',
        successorSeed: family.succ,
        expiresAtMs: family.expAtMs,
        ...optionalUnionid(unionid),
      };
    }
    this.removeFamily(rotation.openid, families, rotation.familyId);
    return { kind: 'reused' };
  }

  async endFamily(openid: string, familyId: string, tokenHash: string): Promise<boolean> {
    this.enter();
    const families = this.families.get(openid);
    const family = families?.get(familyId);
    if (families === undefined || family === undefined) return false;
    if (tokenHash !== family.cur && tokenHash !== family.prev) return false;
    this.removeFamily(openid, families, familyId);
    return true;
  }

  async endAllFamilies(openid: string): Promise<number> {
    this.enter();
    const count = this.families.get(openid)?.size ?? 0;
    this.families.delete(openid);
    return count;
  }

  async getWechatAccessToken(nowMs: number): Promise<CachedAccessToken | null> {
    const now = this.enter(nowMs);
    const cached = this.wechatAccessToken;
    return cached !== undefined && cached.expiresAtMs > now ? { ...cached } : null;
  }

  async putWechatAccessToken(token: string, expiresAtMs: number, nowMs: number): Promise<void> {
    this.enter(nowMs);
    this.wechatAccessToken = { token, expiresAtMs: Math.floor(expiresAtMs) };
  }

  async invalidateWechatAccessToken(token: string): Promise<boolean> {
    this.enter();
    if (this.wechatAccessToken?.token !== token) return false;
    this.wechatAccessToken = undefined;
    return true;
  }

  async acquireLock(name: string, owner: string, ttlMs: number): Promise<boolean> {
    this.enter();
    const now = Date.now();
    const held = this.locks.get(name);
    if (held !== undefined && held.untilMs > now) return false;
    this.locks.set(name, { owner, untilMs: now + Math.max(Math.round(ttlMs), 1) });
    return true;
  }

  async releaseLock(name: string, owner: string): Promise<boolean> {
    this.enter();
    const held = this.locks.get(name);
    if (held === undefined || held.owner !== owner || held.untilMs <= Date.now()) return false;
    this.locks.delete(name);
    return true;
  }

  async claimLoginCode(codeHash: string, ttlMs: number): Promise<LoginCodeClaim> {
    this.enter();
    const now = Date.now();
    const known = this.loginCodes.get(codeHash);
    if (known !== undefined && known.untilMs > now) {
      return known.value === '' ? { state: 'pending' } : { state: 'done', sealedResult: known.value };
    }
    this.loginCodes.set(codeHash, { value: '', untilMs: now + Math.max(Math.round(ttlMs), 1) });
    return { state: 'claimed' };
  }

  async completeLoginCode(codeHash: string, sealedResult: string): Promise<void> {
    this.enter();
    const known = this.loginCodes.get(codeHash);
    if (known !== undefined && known.untilMs > Date.now()) known.value = sealedResult;
  }

  async releaseLoginCode(codeHash: string): Promise<void> {
    this.enter();
    if (this.loginCodes.get(codeHash)?.value === '') this.loginCodes.delete(codeHash);
  }

  async ping(): Promise<void> {
    this.enter();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    this.users.clear();
    this.families.clear();
    this.locks.clear();
    this.loginCodes.clear();
    this.wechatAccessToken = undefined;
  }

  /** Drops every family expired by now (the clock's, else the latest nowMs seen). */
  sweep(): void {
    const now = this.clock?.now() ?? this.latestNowMs;
    for (const [openid, families] of this.families) {
      for (const [id, family] of families) if (family.expAtMs <= now) families.delete(id);
      if (families.size === 0) this.families.delete(openid);
    }
    const realNow = Date.now();
    for (const [hash, claim] of this.loginCodes) if (claim.untilMs <= realNow) this.loginCodes.delete(hash);
  }

  private enter(nowMs?: number): number {
    if (this.closed) throw new Error('MemoryStore is closed');
    if (nowMs === undefined) return this.latestNowMs;
    const now = Math.floor(nowMs);
    if (now > this.latestNowMs) this.latestNowMs = now;
    return now;
  }

  private removeFamily(openid: string, families: Map<string, Family>, familyId: string): void {
    families.delete(familyId);
    if (families.size === 0) this.families.delete(openid);
  }
}

function optionalUnionid(unionid: string | null | undefined): { unionid?: string } {
  return unionid == null ? {} : { unionid };
}
