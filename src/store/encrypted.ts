import type { AtRestCipher } from '../crypto/index.js';
import type * as Store from './types.js';
import type { WebLoginStore } from './web-login.js';

/** The AAD of the sealed WeChat access_token; an openid never contains a space, so none is this. */
const WECHAT_ACCESS_TOKEN = 'wechat access_token';

/**
 * Keeps secrets encrypted in any store: session_keys sealed on the way in (bound to the openid) and
 * opened on the way out, and likewise the WeChat access_token, which lets its holder call WeChat as the
 * app. A value stored in clear before encryption was turned on is still read, so turning it on (or
 * rotating its key) logs nobody out; a session_key that no configured key opens reads as none, which
 * routes answer with login_required.
 */
export class EncryptingStore implements Store.SessionStore {
  constructor(
    private readonly inner: Store.SessionStore,
    private readonly cipher: AtRestCipher,
    private readonly onUnreadable: (openid: string) => void = () => {},
  ) {}

  recordLogin(login: Store.LoginWrite): Promise<Store.LoginOutcome> {
    if (login.sessionKey === undefined) return this.inner.recordLogin(login);
    return this.inner.recordLogin({ ...login, sessionKey: this.cipher.seal(login.sessionKey, login.openid) });
  }

  async getUser(openid: string): Promise<Store.UserRecord | null> {
    const user = await this.inner.getUser(openid);
    if (!user || !this.cipher.isSealed(user.sessionKey)) return user;
    const sessionKey = this.cipher.open(user.sessionKey, openid);
    if (sessionKey === null) {
      this.onUnreadable(openid);
      return null;
    }
    return { ...user, sessionKey };
  }

  /** Reads no session_key: a user whose key no configured key opens is still known. */
  getAccount(openid: string): Promise<Store.AccountRecord | null> {
    return this.inner.getAccount(openid);
  }
  rotateRefresh(rotation: Store.RotateRequest): Promise<Store.RotateOutcome> {
    return this.inner.rotateRefresh(rotation);
  }
  endFamily(openid: string, familyId: string, tokenHash: Buffer): Promise<boolean> {
    return this.inner.endFamily(openid, familyId, tokenHash);
  }
  endSession(openid: string, familyId: string, nowMs: number): Promise<boolean> {
    return this.inner.endSession(openid, familyId, nowMs);
  }
  endAllFamilies(openid: string): Promise<number> {
    return this.inner.endAllFamilies(openid);
  }
  listSessions(openid: string, nowMs: number): Promise<Store.SessionInfo[]> {
    return this.inner.listSessions(openid, nowMs);
  }
  deleteUser(openid: string): Promise<{ existed: boolean; sessionsEnded: number }> {
    return this.inner.deleteUser(openid);
  }
  banUser(openid: string, ban: Store.Ban, nowMs: number): Promise<number> {
    return this.inner.banUser(openid, ban, nowMs);
  }
  getBan(openid: string, nowMs: number): Promise<Store.Ban | null> {
    return this.inner.getBan(openid, nowMs);
  }
  liftBan(openid: string): Promise<boolean> {
    return this.inner.liftBan(openid);
  }
  linkIdentity(unionid: string, identity: Store.Identity, nowMs: number): Promise<{ ban: Store.Ban | null }> {
    return this.inner.linkIdentity(unionid, identity, nowMs);
  }
  markLinked(openid: string, unionid: string): Promise<void> {
    return this.inner.markLinked(openid, unionid);
  }
  personIdentities(unionid: string): Promise<Store.Identity[]> {
    return this.inner.personIdentities(unionid);
  }
  banPerson(unionid: string, ban: Store.Ban, nowMs: number): Promise<void> {
    return this.inner.banPerson(unionid, ban, nowMs);
  }
  getPersonBan(unionid: string, nowMs: number): Promise<Store.Ban | null> {
    return this.inner.getPersonBan(unionid, nowMs);
  }
  liftPersonBan(unionid: string): Promise<boolean> {
    return this.inner.liftPersonBan(unionid);
  }
  forgetPerson(unionid: string): Promise<void> {
    return this.inner.forgetPerson(unionid);
  }
  unlinkedIdentities(): AsyncIterable<Array<Store.Identity & { unionid: string }>> {
    return this.inner.unlinkedIdentities();
  }
  watchRevocations(watcher: Store.RevocationWatcher, options: { windowMs: number }): void {
    this.inner.watchRevocations(watcher, options);
  }
  async getWechatAccessToken(nowMs: number, appid?: string): Promise<Store.CachedAccessToken | null> {
    const cached = await this.inner.getWechatAccessToken(nowMs, appid);
    if (!cached || !this.cipher.isSealed(cached.token)) return cached;
    const token = this.cipher.open(cached.token, WECHAT_ACCESS_TOKEN);
    // Sealed under a key no longer configured: as if none were cached, so a new one is fetched.
    return token === null ? null : { ...cached, token };
  }
  putWechatAccessToken(token: string, expiresAtMs: number, nowMs: number, appid?: string): Promise<void> {
    const sealed = this.cipher.seal(token, WECHAT_ACCESS_TOKEN);
    return this.inner.putWechatAccessToken(sealed, expiresAtMs, nowMs, appid);
  }
  /** Each seal differs, so the stored value that opens to `token` is found and exactly it is dropped. */
  async invalidateWechatAccessToken(token: string, appid?: string): Promise<boolean> {
    const stored = await this.inner.getWechatAccessToken(Number.NEGATIVE_INFINITY, appid);
    if (!stored) return false;
    const opened = this.cipher.isSealed(stored.token)
      ? this.cipher.open(stored.token, WECHAT_ACCESS_TOKEN)
      : stored.token;
    return opened === token ? this.inner.invalidateWechatAccessToken(stored.token, appid) : false;
  }
  acquireLock(name: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.inner.acquireLock(name, owner, ttlMs);
  }
  releaseLock(name: string, owner: string): Promise<boolean> {
    return this.inner.releaseLock(name, owner);
  }
  claimLoginCode(codeHash: string, ttlMs: number): Promise<Store.LoginCodeClaim> {
    return this.inner.claimLoginCode(codeHash, ttlMs);
  }
  completeLoginCode(codeHash: string, sealedResult: string): Promise<void> {
    return this.inner.completeLoginCode(codeHash, sealedResult);
  }
  releaseLoginCode(codeHash: string): Promise<void> {
    return this.inner.releaseLoginCode(codeHash);
  }
  /** Nothing secret: a poll token is kept only as its hash. */
  putAuthorizationRequest(
    stateHash: string,
    request: Store.AuthorizationRequest,
    ttlMs: number,
  ): Promise<void> {
    return this.inner.putAuthorizationRequest(stateHash, request, ttlMs);
  }
  takeAuthorizationRequest(stateHash: string): Promise<Store.AuthorizationRequest | null> {
    return this.inner.takeAuthorizationRequest(stateHash);
  }
  putAuthorizationCode(codeHash: string, grant: Store.AuthorizationGrant, keepMs: number): Promise<void> {
    return this.inner.putAuthorizationCode(codeHash, grant, keepMs);
  }
  redeemAuthorizationCode(codeHash: string, nowMs: number): Promise<Store.CodeRedemption> {
    return this.inner.redeemAuthorizationCode(codeHash, nowMs);
  }
  recordCodeSession(codeHash: string, openid: string, familyId: string): Promise<boolean> {
    return this.inner.recordCodeSession(codeHash, openid, familyId);
  }
  webLogins(): WebLoginStore {
    return this.inner.webLogins();
  }
  ping(): Promise<void> {
    return this.inner.ping();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
