/**
 * Everything the service keeps between requests, in domain terms. Two adapters implement it: RedisStore
 * (production; ioredis, single/Sentinel/Cluster) and MemoryStore (the zero-config default). Both pass
 * the contract suite in test/store/contract.ts.
 *
 * Units: every `nowMs`/`...AtMs` is epoch milliseconds from the caller's clock (never the store's own),
 * every `...TtlS` is seconds. Adapters decide expiry from these values, so a test clock is honoured;
 * Redis TTLs are set as well, relative to `nowMs`, only to collect garbage.
 *
 * Atomicity: each method is one atomic step (one round trip in Redis: a Lua script). All keys of one
 * user share the hash tag `{openid}`, so every method stays inside one Redis Cluster slot. The app-wide
 * keys (the WeChat access_token, locks) are one key per method, so they need no hash tag.
 *
 * Failure: when the store cannot serve (connection refused or lost, no answer within the command timeout,
 * a failover in progress, memory full, writes refused), a method rejects with TemporarilyUnavailable
 * (503) at once rather than queueing, and has changed nothing: a write that reaches Redis after its
 * caller gave up is dropped there. The adapter reconnects by itself. Any other rejection is a bug.
 *
 * Secrets: refresh tokens reach the store only as hashes (`tokenHash`, base64url SHA-256). The
 * `successorSeed` is random; the successor is derived from it and the predecessor token, which the store
 * never sees, so a dump of the store cannot rebuild a token. The session_key is an opaque string to the store (sealed above it when encryption at rest
 * is on).
 */
export interface SessionStore {
  /**
   * A successful code exchange: upserts the user record (session_key, unionid, first and last login;
   * the record has no TTL) and opens a new refresh-token family holding `tokenHash` as its current token.
   * A login without `unionid` keeps the one stored before. The family expires at nowMs + refreshTtlS,
   * capped by nowMs + absoluteTtlS. The user keeps at most `maxSessions` live families: the expired ones
   * and then, when still at the cap, those closest to their expiry (the least recently used) end first;
   * `sessionsEnded` counts the live ones ended so. One round trip, whose work is bounded by the cap.
   * `isNewUser` is true when no user record existed before.
   */
  recordLogin(login: LoginWrite): Promise<{ isNewUser: boolean; sessionsEnded: number }>;

  /** The user record, or null when the user never logged in (or it was removed). */
  getUser(openid: string): Promise<UserRecord | null>;

  /**
   * Presents a refresh token of family `familyId` and, when it is the family's current token, makes
   * `nextHash` current (sliding the family's expiry to nowMs + refreshTtlS, capped by its absolute
   * limit) and remembers `presentedHash` as the previous token with `successorSeed` and the rotation time.
   * See RotateOutcome for the other answers. One round trip, atomic against concurrent calls: of N
   * concurrent presentations of the current token, one is `rotated` and the others `grace` with its
   * `successorSeed`.
   */
  rotateRefresh(rotation: RotateRequest): Promise<RotateOutcome>;

  /**
   * Logout of one session: ends the family when `tokenHash` is its current or previous token. Answers
   * whether a family was ended; anything else (unknown family or token) ends nothing.
   */
  endFamily(openid: string, familyId: string, tokenHash: string): Promise<boolean>;

  /**
   * Logout everywhere: ends every family of the user; the user record stays. Answers how many families
   * it ended (one expired by the caller's clock but not yet collected counts too). Bounded by the cap.
   */
  endAllFamilies(openid: string): Promise<number>;

  /**
   * The app's WeChat access_token, shared by every instance (it is the app's, not a user's). Answers the
   * token last put and its expiry, or null when none was put, it was invalidated, or it expired by the
   * caller's clock (nowMs >= expiresAtMs). Never extends anything. One round trip.
   */
  getWechatAccessToken(nowMs: number): Promise<CachedAccessToken | null>;

  /**
   * Caches `token` until `expiresAtMs` (the caller's clock; the caller subtracts its own safety margin
   * from WeChat's expires_in), replacing whatever was cached. The key's TTL is expiresAtMs - nowMs (at
   * least 1 ms), so an expiry already past stores nothing visible. One round trip.
   */
  putWechatAccessToken(token: string, expiresAtMs: number, nowMs: number): Promise<void>;

  /**
   * Compare-and-delete: drops the cached access_token only when it is `token`, so an instance that saw a
   * stale token rejected (40001) never deletes the fresh one another instance has put meanwhile. Answers
   * whether it dropped it. One round trip, atomic.
   */
  invalidateWechatAccessToken(token: string): Promise<boolean>;

  /**
   * A short mutual-exclusion lock across every instance (e.g. "one instance fetches the access_token"):
   * takes lock `name` for `owner` unless anyone (`owner` included) holds it, and answers whether it did.
   * The lock ends by itself `ttlMs` after it was taken, measured by the store's own clock (real time,
   * not the caller's clock: it bounds how long a holder that died can block the others). Names are short
   * ASCII identifiers chosen by the code, never by a client. One round trip, atomic.
   */
  acquireLock(name: string, owner: string, ttlMs: number): Promise<boolean>;

  /**
   * Compare-and-delete: releases lock `name` only when `owner` still holds it (a holder whose lock
   * expired and was taken by another never releases the other's). Answers whether it released it. One
   * round trip, atomic.
   */
  releaseLock(name: string, owner: string): Promise<boolean>;

  /**
   * Double submit of a login code (a double tap, or a retry after a lost answer): claims `codeHash` for
   * this exchange unless an exchange of that code is known, and answers what is known: `claimed` (go and
   * exchange it), `pending` (another request is exchanging it now) or `done` with the result that
   * exchange sealed. The claim and its result end `ttlMs` after the claim, by the store's own clock (real
   * time, like locks). One round trip, atomic.
   */
  claimLoginCode(codeHash: string, ttlMs: number): Promise<LoginCodeClaim>;

  /** Records the sealed result of a claimed exchange, keeping the claim's remaining lifetime. */
  completeLoginCode(codeHash: string, sealedResult: string): Promise<void>;

  /** Forgets a claim whose exchange failed (while still pending), so a retry asks WeChat again. */
  releaseLoginCode(codeHash: string): Promise<void>;

  /** Resolves when the store answers and takes writes; rejects otherwise. */
  ping(): Promise<void>;

  /** Releases connections. The store is unusable afterwards. */
  close(): Promise<void>;
}

/** The shared WeChat access_token and when the cache stops answering it (epoch ms, caller's clock). */
export type LoginCodeClaim =
  | { state: 'claimed' }
  | { state: 'pending' }
  | { state: 'done'; sealedResult: string };

export interface CachedAccessToken {
  token: string;
  expiresAtMs: number;
}

export interface UserRecord {
  sessionKey: string;
  unionid?: string;
  firstLoginAtMs: number;
  lastLoginAtMs: number;
}

export interface LoginWrite {
  openid: string;
  sessionKey: string;
  unionid?: string;
  familyId: string;
  tokenHash: string;
  nowMs: number;
  refreshTtlS: number;
  /** Absolute lifetime of the family from its login, seconds; none when undefined. */
  absoluteTtlS?: number;
  /** Live families the user may have, this one included (at least 1). */
  maxSessions: number;
}

export interface RotateRequest {
  openid: string;
  familyId: string;
  presentedHash: string;
  nextHash: string;
  /**
   * Opaque to the store; returned as is by a `grace` answer. RedisStore keeps a base64url seed as its
   * bytes (32 for the service's seeds), anything else as given.
   */
  successorSeed: string;
  nowMs: number;
  refreshTtlS: number;
  /** Seconds after a rotation during which the previous token is answered with `grace`. */
  graceS: number;
}

export type RotateOutcome =
  /** `presentedHash` was current; `nextHash` is current now. */
  | { kind: 'rotated'; expiresAtMs: number; unionid?: string }
  /**
   * `presentedHash` is the previous token, rotated less than `graceS` ago (a concurrent or retried
   * refresh): nothing changes, and the caller rebuilds the same successor from `successorSeed`.
   */
  | { kind: 'grace'; successorSeed: string; expiresAtMs: number; unionid?: string }
  /**
   * The family is live but `presentedHash` is neither its current token nor its previous one within the
   * grace: an old token presented again (or one the store cannot tell from it). The family is ended.
   */
  | { kind: 'reused' }
  /** Unknown or ended family, or the family expired (nowMs >= its expiry). Nothing changed. */
  | { kind: 'invalid' };
