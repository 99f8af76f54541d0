import type { Clock } from '../lib/index.js';
import { newestFirst } from './redis.js';
import { DEFAULT_REVOCATION_WINDOW_MS } from './revocation-feed.js';
import type * as Store from './types.js';
import { MemoryWebLoginStore, type WebLoginStore } from './web-login.js';

/** Token hashes and the seed are copies: what the caller does with its buffers afterwards changes none. */
interface Family {
  cur: Buffer;
  prev?: Buffer;
  rotAtMs?: number;
  succ?: Buffer;
  expAtMs: number;
  absAtMs?: number;
  createdAtMs: number;
  device?: string;
}

/** A user record as kept here: a mobile App's identity has no session_key; `linked` is field x. */
type MemoryUser = Omit<Store.UserRecord, 'sessionKey'> & { sessionKey?: string; linked?: string };

/** How often expired families are collected, ms. */
const SWEEP_INTERVAL_MS = 60_000;

/**
 * SessionStore in this process's memory: the zero-config default, for development only (sessions end
 * with the process and are not shared between instances). Same semantics as RedisStore; each method
 * runs without awaiting, so it is atomic in single-threaded JS.
 */
export class MemoryStore implements Store.SessionStore {
  private readonly users = new Map<string, MemoryUser>();
  /** unionid → openid → appid ('' for none). */
  private readonly persons = new Map<string, Map<string, string>>();
  private readonly personBans = new Map<string, Store.Ban>();
  /** openid → familyId → family. */
  private readonly families = new Map<string, Map<string, Family>>();
  /** appid ('' for the first mini-program's) → its token. */
  private readonly wechatAccessTokens = new Map<string, Store.CachedAccessToken>();
  /** name → holder; `untilMs` is real time (Date.now()), as Redis measures PX. */
  private readonly locks = new Map<string, { owner: string; untilMs: number }>();
  /** codeHash → '' (pending) or the sealed result; `untilMs` is real time, as for locks. */
  private readonly loginCodes = new Map<string, { value: string; untilMs: number }>();
  /** stateHash → request; `untilMs` is real time, as for locks. */
  private readonly authorizationRequests = new Map<
    string,
    { request: Store.AuthorizationRequest; untilMs: number }
  >();
  /** codeHash → grant and its redemption; `untilMs` is real time, as for locks. */
  private readonly authorizationCodes = new Map<
    string,
    { grant: Store.AuthorizationGrant; used: boolean; familyId?: string; replayed: boolean; untilMs: number }
  >();
  private readonly tickets = new MemoryWebLoginStore();
  private readonly bans = new Map<string, Store.Ban>();
  private readonly watchers: Store.RevocationWatcher[] = [];
  private windowMs = 0;
  /** Family ids ended lately → when (real time), for a watcher registered later. */
  private readonly revoked = new Map<string, number>();
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

  async recordLogin(login: Store.LoginWrite): Promise<Store.LoginOutcome> {
    const now = this.enter(login.nowMs);
    const existing = this.users.get(login.openid);
    // A session opened without a code exchange (a web login) keeps the session_key, and needs a user.
    if (login.sessionKey === undefined && !login.keyless && existing === undefined) return { ended: true };
    if (login.whileLive !== undefined) {
      const required = this.families.get(login.openid)?.get(login.whileLive);
      if (required === undefined || required.expAtMs <= now) return { ended: true };
    }
    const ban = this.banOf(login.openid, now);
    if (ban !== null) return { banned: ban };
    const user: MemoryUser = {
      ...existing,
      firstLoginAtMs: existing?.firstLoginAtMs ?? now,
      lastLoginAtMs: now,
    };
    if (login.sessionKey !== undefined) user.sessionKey = login.sessionKey;
    if (login.unionid !== undefined) user.unionid = login.unionid;
    // An identity belongs to one app: the first appid written stays.
    if (login.appid !== undefined && user.appid === undefined) user.appid = login.appid;
    this.users.set(login.openid, user);

    const absAtMs =
      login.absoluteTtlS === undefined ? undefined : now + Math.round(login.absoluteTtlS * 1000);
    const family: Family = {
      cur: Buffer.from(login.tokenHash),
      expAtMs: Math.min(now + Math.round(login.refreshTtlS * 1000), absAtMs ?? Number.POSITIVE_INFINITY),
      createdAtMs: now,
    };
    if (absAtMs !== undefined) family.absAtMs = absAtMs;
    if (login.device) family.device = login.device;
    const families = this.families.get(login.openid) ?? new Map<string, Family>();
    this.families.set(login.openid, families);
    for (const [id, other] of families) if (other.expAtMs <= now) families.delete(id);
    // As in Redis: the live ones closest to their end go first (ties: the older login).
    const over = families.size - login.maxSessions + 1;
    if (over > 0) {
      const byExpiry = [...families].sort(([, a], [, b]) => a.expAtMs - b.expAtMs);
      const ended = byExpiry.slice(0, over).map(([id]) => id);
      for (const id of ended) families.delete(id);
      this.notify(ended);
    }
    families.set(login.familyId, family);
    return {
      isNewUser: existing === undefined,
      sessionsEnded: Math.max(over, 0),
      unlinked: unlinked(user),
      ...(user.unionid === undefined ? {} : { unionid: user.unionid }),
    };
  }

  async getUser(openid: string): Promise<Store.UserRecord | null> {
    this.enter();
    const user = this.users.get(openid);
    if (user?.sessionKey === undefined) return null;
    const { linked: _, ...record } = user;
    return { ...record, sessionKey: user.sessionKey };
  }

  async getAccount(openid: string): Promise<Store.AccountRecord | null> {
    this.enter();
    const user = this.users.get(openid);
    if (user === undefined) return null;
    const { sessionKey: _, linked: __, ...account } = user;
    return account;
  }

  async rotateRefresh(rotation: Store.RotateRequest): Promise<Store.RotateOutcome> {
    const now = this.enter(rotation.nowMs);
    const families = this.families.get(rotation.openid);
    const family = families?.get(rotation.familyId);
    if (families === undefined || family === undefined || family.expAtMs <= now) return { kind: 'invalid' };
    const user = this.users.get(rotation.openid);
    const identity: Store.RotatedIdentity = {
      ...(user?.unionid === undefined ? {} : { unionid: user.unionid }),
      ...(user?.appid === undefined ? {} : { appid: user.appid }),
      ...(user !== undefined && unlinked(user) ? { unlinked: true } : {}),
    };

    if (rotation.presentedHash.equals(family.cur)) {
      family.prev = family.cur;
      family.cur = Buffer.from(rotation.nextHash);
      family.rotAtMs = now;
      family.succ = Buffer.from(rotation.successorSeed);
      family.expAtMs = Math.min(
        now + Math.round(rotation.refreshTtlS * 1000),
        family.absAtMs ?? Number.POSITIVE_INFINITY,
      );
      return { kind: 'rotated', expiresAtMs: family.expAtMs, ...identity };
    }
    if (
      family.prev?.equals(rotation.presentedHash) === true &&
      family.rotAtMs !== undefined &&
      family.succ !== undefined &&
      now < family.rotAtMs + Math.round(rotation.graceS * 1000)
    ) {
      return {
        kind: 'grace',
        successorSeed: Buffer.from(family.succ),
        expiresAtMs: family.expAtMs,
        ...identity,
      };
    }
    this.removeFamily(rotation.openid, families, rotation.familyId);
    this.notify([rotation.familyId]);
    return { kind: 'reused' };
  }

  async endFamily(openid: string, familyId: string, tokenHash: Buffer): Promise<boolean> {
    this.enter();
    const families = this.families.get(openid);
    const family = families?.get(familyId);
    if (families === undefined || family === undefined) return false;
    if (!tokenHash.equals(family.cur) && family.prev?.equals(tokenHash) !== true) return false;
    this.removeFamily(openid, families, familyId);
    this.notify([familyId]);
    return true;
  }

  async endSession(openid: string, familyId: string, nowMs: number): Promise<boolean> {
    const now = this.enter(nowMs);
    const families = this.families.get(openid);
    const family = families?.get(familyId);
    if (families === undefined || family === undefined) return false;
    this.removeFamily(openid, families, familyId);
    if (family.expAtMs <= now) return false;
    this.notify([familyId]);
    return true;
  }

  async endAllFamilies(openid: string): Promise<number> {
    this.enter();
    return this.endAll(openid);
  }

  async listSessions(openid: string, nowMs: number): Promise<Store.SessionInfo[]> {
    const now = this.enter(nowMs);
    const live = [...(this.families.get(openid) ?? [])].filter(([, family]) => family.expAtMs > now);
    return live
      .map(([id, family]) => ({
        id,
        createdAtMs: family.createdAtMs,
        refreshedAtMs: family.rotAtMs,
        expiresAtMs: family.expAtMs,
        device: family.device,
      }))
      .sort(newestFirst);
  }

  async deleteUser(openid: string): Promise<{ existed: boolean; sessionsEnded: number }> {
    this.enter();
    const existed = this.users.has(openid) || this.families.has(openid);
    const sessionsEnded = this.endAll(openid);
    this.users.delete(openid);
    return { existed, sessionsEnded };
  }

  async banUser(openid: string, ban: Store.Ban, nowMs: number): Promise<number> {
    this.enter(nowMs);
    this.bans.set(openid, { ...ban });
    return this.endAll(openid);
  }

  async getBan(openid: string, nowMs: number): Promise<Store.Ban | null> {
    return this.banOf(openid, this.enter(nowMs));
  }

  async liftBan(openid: string): Promise<boolean> {
    this.enter();
    return this.bans.delete(openid);
  }

  async linkIdentity(
    unionid: string,
    identity: Store.Identity,
    nowMs: number,
  ): Promise<{ ban: Store.Ban | null }> {
    const now = this.enter(nowMs);
    const person = this.persons.get(unionid) ?? new Map<string, string>();
    this.persons.set(unionid, person);
    person.set(identity.openid, identity.appid ?? '');
    return { ban: this.personBanOf(unionid, now) };
  }

  async markLinked(openid: string, unionid: string): Promise<void> {
    this.enter();
    const user = this.users.get(openid);
    if (user?.unionid === unionid) user.linked = unionid;
  }

  async personIdentities(unionid: string): Promise<Store.Identity[]> {
    this.enter();
    return [...(this.persons.get(unionid) ?? [])].map(([openid, appid]) => ({
      openid,
      appid: appid === '' ? undefined : appid,
    }));
  }

  async banPerson(unionid: string, ban: Store.Ban, nowMs: number): Promise<void> {
    this.enter(nowMs);
    this.personBans.set(unionid, { ...ban });
  }

  async getPersonBan(unionid: string, nowMs: number): Promise<Store.Ban | null> {
    return this.personBanOf(unionid, this.enter(nowMs));
  }

  async liftPersonBan(unionid: string): Promise<boolean> {
    this.enter();
    return this.personBans.delete(unionid);
  }

  async forgetPerson(unionid: string): Promise<void> {
    this.enter();
    this.persons.delete(unionid);
  }

  async *unlinkedIdentities(): AsyncIterable<Array<Store.Identity & { unionid: string }>> {
    this.enter();
    const page = [...this.users]
      .filter(([, user]) => unlinked(user))
      .map(([openid, user]) => ({ openid, unionid: user.unionid!, appid: user.appid }));
    if (page.length > 0) yield page;
  }

  /** In this process only: the embedded mode has no other instance to tell. */
  watchRevocations(watcher: Store.RevocationWatcher, options: { windowMs: number }): void {
    this.enter();
    this.watchers.push(watcher);
    this.windowMs = Math.max(this.windowMs, options.windowMs);
    watcher.state('live');
    this.forgetRevocations();
    if (this.revoked.size > 0) watcher.revoked([...this.revoked.keys()]);
  }

  async getWechatAccessToken(nowMs: number, appid?: string): Promise<Store.CachedAccessToken | null> {
    const now = this.enter(nowMs);
    const cached = this.wechatAccessTokens.get(appid ?? '');
    return cached !== undefined && cached.expiresAtMs > now ? { ...cached } : null;
  }

  async putWechatAccessToken(
    token: string,
    expiresAtMs: number,
    nowMs: number,
    appid?: string,
  ): Promise<void> {
    this.enter(nowMs);
    this.wechatAccessTokens.set(appid ?? '', { token, expiresAtMs: Math.floor(expiresAtMs) });
  }

  async invalidateWechatAccessToken(token: string, appid?: string): Promise<boolean> {
    this.enter();
    if (this.wechatAccessTokens.get(appid ?? '')?.token !== token) return false;
    this.wechatAccessTokens.delete(appid ?? '');
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

  async claimLoginCode(codeHash: string, ttlMs: number): Promise<Store.LoginCodeClaim> {
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

  async putAuthorizationRequest(
    stateHash: string,
    request: Store.AuthorizationRequest,
    ttlMs: number,
  ): Promise<void> {
    this.enter();
    this.sweepOAuth();
    const untilMs = Date.now() + Math.max(Math.round(ttlMs), 1);
    this.authorizationRequests.set(stateHash, { request: { ...request }, untilMs });
  }

  async takeAuthorizationRequest(stateHash: string): Promise<Store.AuthorizationRequest | null> {
    this.enter();
    const kept = this.authorizationRequests.get(stateHash);
    this.authorizationRequests.delete(stateHash);
    return kept !== undefined && kept.untilMs > Date.now() ? { ...kept.request } : null;
  }

  async putAuthorizationCode(
    codeHash: string,
    grant: Store.AuthorizationGrant,
    keepMs: number,
  ): Promise<void> {
    this.enter();
    this.sweepOAuth();
    const untilMs = Date.now() + Math.max(Math.round(keepMs), 1);
    this.authorizationCodes.set(codeHash, { grant: { ...grant }, used: false, replayed: false, untilMs });
  }

  async redeemAuthorizationCode(codeHash: string, nowMs: number): Promise<Store.CodeRedemption> {
    this.enter();
    const kept = this.authorizationCodes.get(codeHash);
    if (kept === undefined || kept.untilMs <= Date.now()) return { kind: 'unknown' };
    if (kept.used) {
      kept.replayed = true;
      const { openid } = kept.grant;
      return kept.familyId === undefined
        ? { kind: 'replayed', openid }
        : { kind: 'replayed', openid, familyId: kept.familyId };
    }
    if (nowMs >= kept.grant.expiresAtMs) return { kind: 'expired' };
    kept.used = true;
    return { kind: 'fresh', grant: { ...kept.grant } };
  }

  async recordCodeSession(codeHash: string, _openid: string, familyId: string): Promise<boolean> {
    this.enter();
    const kept = this.authorizationCodes.get(codeHash);
    if (kept === undefined || !kept.used) return false;
    kept.familyId = familyId;
    return kept.replayed;
  }

  /** Forgets the flows past their time; run on writes, so the maps stay as small as the live flows. */
  private sweepOAuth(): void {
    const now = Date.now();
    for (const [key, kept] of this.authorizationRequests) {
      if (kept.untilMs <= now) this.authorizationRequests.delete(key);
    }
    for (const [key, kept] of this.authorizationCodes) {
      if (kept.untilMs <= now) this.authorizationCodes.delete(key);
    }
  }

  webLogins(): WebLoginStore {
    return this.tickets;
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
    this.tickets.close();
    this.bans.clear();
    this.revoked.clear();
    this.watchers.length = 0;
    this.wechatAccessTokens.clear();
    this.persons.clear();
    this.personBans.clear();
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
    for (const [openid, ban] of this.bans)
      if (ban.untilMs !== undefined && ban.untilMs <= now) this.bans.delete(openid);
    this.forgetRevocations();
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

  /** Ends every family of the user; answers how many there were. */
  private endAll(openid: string): number {
    const ids = [...(this.families.get(openid)?.keys() ?? [])];
    this.families.delete(openid);
    this.notify(ids);
    return ids.length;
  }

  private personBanOf(unionid: string, now: number): Store.Ban | null {
    const ban = this.personBans.get(unionid);
    return ban === undefined || (ban.untilMs !== undefined && ban.untilMs <= now) ? null : { ...ban };
  }

  private banOf(openid: string, now: number): Store.Ban | null {
    const ban = this.bans.get(openid);
    return ban === undefined || (ban.untilMs !== undefined && ban.untilMs <= now) ? null : { ...ban };
  }

  private notify(ids: string[]): void {
    if (ids.length === 0) return;
    const at = Date.now();
    for (const id of ids) {
      // Moved to the end, so that the map stays in the order forgetRevocations relies on.
      this.revoked.delete(id);
      this.revoked.set(id, at);
    }
    for (const watcher of this.watchers) watcher.revoked(ids);
  }

  private forgetRevocations(): void {
    const before = Date.now() - (this.windowMs > 0 ? this.windowMs : DEFAULT_REVOCATION_WINDOW_MS);
    for (const [id, at] of this.revoked)
      if (at < before) this.revoked.delete(id);
      else break;
  }
}

/** As the scripts' user_unlinked: a unionid the person's list has not been told of. */
function unlinked(user: MemoryUser): boolean {
  return user.unionid !== undefined && user.linked !== user.unionid;
}
