import type { WxApi } from './wx.js';

/** One login as the client keeps it: the tokens and when to renew them, in the client clock's ms. */
export interface StoredSession {
  v: 1;
  accessToken: string;
  refreshToken: string;
  openid: string;
  unionid?: string;
  /** When the service stops accepting the access token. */
  accessExpiresAt: number;
  /** When the client refreshes before sending (a little before accessExpiresAt). */
  refreshAt: number;
  /** When the service stops accepting the refresh token: past it, only a new login helps. */
  refreshExpiresAt: number;
}

/**
 * The session in `wx.setStorageSync`, under one key, so it survives the mini-program being closed.
 * Storage is read on every use, so two clients of one app (which should be avoided) see each other's
 * rotations. Should storage fail (quota, a broken device), the session lives in memory until the
 * mini-program closes, and stale storage is not read again.
 */
export class SessionStorage {
  private memory: StoredSession | null = null;
  private storageBroken = false;

  constructor(
    private readonly api: WxApi,
    private readonly key: string,
  ) {}

  load(): StoredSession | null {
    if (this.storageBroken) return this.memory;
    let value: unknown;
    try {
      value = this.api.getStorageSync(this.key);
    } catch {
      return this.memory;
    }
    this.memory = isStoredSession(value) ? value : null;
    return this.memory;
  }

  save(session: StoredSession): void {
    this.memory = session;
    try {
      this.api.setStorageSync(this.key, session);
      this.storageBroken = false;
    } catch {
      this.storageBroken = true;
      this.tryRemove();
    }
  }

  clear(): void {
    this.memory = null;
    this.tryRemove();
  }

  private tryRemove(): void {
    try {
      this.api.removeStorageSync(this.key);
    } catch {
      // Nothing more to do: memory is the truth while storage is broken.
    }
  }
}

function isStoredSession(value: unknown): value is StoredSession {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Record<string, unknown>;
  return (
    s.v === 1 &&
    typeof s.accessToken === 'string' &&
    typeof s.refreshToken === 'string' &&
    typeof s.openid === 'string' &&
    (s.unionid === undefined || typeof s.unionid === 'string') &&
    typeof s.accessExpiresAt === 'number' &&
    typeof s.refreshAt === 'number' &&
    typeof s.refreshExpiresAt === 'number'
  );
}
