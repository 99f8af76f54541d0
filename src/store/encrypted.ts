import type { AtRestCipher } from '../crypto/index.js';
import type {
  CachedAccessToken,
  LoginCodeClaim,
  LoginWrite,
  RotateOutcome,
  RotateRequest,
  SessionStore,
  UserRecord,
} from './types.js';

/**
 * Keeps session_keys encrypted in any store: sealed on the way in (bound to the openid), opened on the
 * way out. A value stored in clear before encryption was turned on is still read, so turning it on (or
 * rotating its key) logs nobody out; one that no configured key opens reads as no session_key, which
 * routes answer with login_required.
 */
export class SessionKeyEncryptingStore implements SessionStore {
  constructor(
    private readonly inner: SessionStore,
    private readonly cipher: AtRestCipher,
    private readonly onUnreadable: (openid: string) => void = () => {},
  ) {}

  recordLogin(login: LoginWrite): Promise<{ isNewUser: boolean }> {
    return this.inner.recordLogin({ ...login, sessionKey: this.cipher.seal(login.sessionKey, login.openid) });
  }

  async getUser(openid: string): Promise<UserRecord | null> {
    const user = await this.inner.getUser(openid);
    if (!user || !this.cipher.isSealed(user.sessionKey)) return user;
    const sessionKey = this.cipher.open(user.sessionKey, openid);
    if (sessionKey === null) {
      this.onUnreadable(openid);
      return null;
    }
    return { ...user, sessionKey };
  }

  rotateRefresh(rotation: RotateRequest): Promise<RotateOutcome> {
    return this.inner.rotateRefresh(rotation);
  }
  endFamily(openid: string, familyId: string, tokenHash: string): Promise<boolean> {
    return this.inner.endFamily(openid, familyId, tokenHash);
  }
  endAllFamilies(openid: string): Promise<number> {
    return this.inner.endAllFamilies(openid);
  }
  getWechatAccessToken(nowMs: number): Promise<CachedAccessToken | null> {
    return this.inner.getWechatAccessToken(nowMs);
  }
  putWechatAccessToken(token: string, expiresAtMs: number, nowMs: number): Promise<void> {
    return this.inner.putWechatAccessToken(token, expiresAtMs, nowMs);
  }
  invalidateWechatAccessToken(token: string): Promise<boolean> {
    return this.inner.invalidateWechatAccessToken(token);
  }
  acquireLock(name: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.inner.acquireLock(name, owner, ttlMs);
  }
  releaseLock(name: string, owner: string): Promise<boolean> {
    return this.inner.releaseLock(name, owner);
  }
  claimLoginCode(codeHash: string, ttlMs: number): Promise<LoginCodeClaim> {
    return this.inner.claimLoginCode(codeHash, ttlMs);
  }
  completeLoginCode(codeHash: string, sealedResult: string): Promise<void> {
    return this.inner.completeLoginCode(codeHash, sealedResult);
  }
  releaseLoginCode(codeHash: string): Promise<void> {
    return this.inner.releaseLoginCode(codeHash);
  }
  ping(): Promise<void> {
    return this.inner.ping();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
