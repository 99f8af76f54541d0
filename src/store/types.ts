import type { WebLoginStore } from './web-login.js';

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
 * Endings (endFamily, endSession, endAllFamilies, deleteUser, banUser, and recordLogin or rotateRefresh
 * when the cap or a reuse ends a family) are that one atomic step on the user's keys, which also tells
 * every instance watching (watchRevocations). RedisStore then adds them to the app-wide revocation log,
 * for instances that were disconnected: a second round trip, since the log lives in another Cluster
 * slot, and a third once logged, to forget them on the user's keys. An ending logs only what it ended
 * and what the user's earlier endings could not log yet; one that ends nothing while nothing waits
 * writes nothing. When the log write fails, the method rejects with TemporarilyUnavailable and the
 * families stay ended, waiting on the user's keys: calling it again (or any later ending of the user)
 * logs them. recordLogin and rotateRefresh do not reject for it: their answer stands.
 *
 * Failure: when the store cannot serve (connection refused or lost, no answer within the command timeout,
 * a failover in progress, memory full, writes refused), a method rejects with TemporarilyUnavailable
 * (503) at once rather than queueing, and has changed nothing: a write that reaches Redis after its
 * caller gave up is dropped there. The adapter reconnects by itself. Any other rejection is a bug.
 *
 * Secrets: refresh tokens reach the store only as hashes (`tokenHash`: the token's 32-byte SHA-256
 * digest). The `successorSeed` is random bytes; the successor is derived from it and the predecessor
 * token, which the store never sees, so a dump of the store cannot rebuild a token. The session_key is
 * an opaque string to the store (sealed above it when encryption at rest is on).
 */
/** Users and their sessions (refresh-token families), with bans and revocations. */
export interface UserSessions {
  /**
   * A successful code exchange: upserts the user record (session_key, unionid, first and last login;
   * the record has no TTL) and opens a new refresh-token family holding `tokenHash` as its current token.
   * A login without `unionid` keeps the one stored before. The family expires at nowMs + refreshTtlS,
   * capped by nowMs + absoluteTtlS. The user keeps at most `maxSessions` live families: the expired ones
   * and then, when still at the cap, those closest to their expiry (the least recently used) end first;
   * `sessionsEnded` counts the live ones ended so. One round trip, whose work is bounded by the cap.
   * `isNewUser` is true when no user record existed before. A banned user (getBan) gets `banned` and
   * nothing is written. A login without a session_key (a web login) never makes a user record: without
   * one (the user was deleted) it gets `ended`; so does a login whose `whileLive` family is no longer
   * live (a ban ends every family, so such a login of a banned user is `ended` too). Nothing is written
   * then either.
   */
  recordLogin(login: LoginWrite): Promise<LoginOutcome>;

  /**
   * The user record, or null when the user never logged in (or it was removed), or when its session_key
   * cannot be read (none stored; EncryptingStore: sealed under a key no longer configured).
   */
  getUser(openid: string): Promise<UserRecord | null>;

  /**
   * The user record without its session_key, or null when there is none: whether the user is known,
   * whatever the state of the session_key. One round trip; reads only.
   */
  getAccount(openid: string): Promise<AccountRecord | null>;

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
  endFamily(openid: string, familyId: string, tokenHash: Buffer): Promise<boolean>;

  /**
   * Ends family `familyId` of the user, whatever its tokens: a session ended from the list of sessions.
   * Answers whether a live one was ended; an unknown, ended or expired family (or another user's) ends
   * nothing visible.
   */
  endSession(openid: string, familyId: string, nowMs: number): Promise<boolean>;

  /**
   * Logout everywhere: ends every family of the user; the user record stays. Answers how many families
   * it ended (one expired by the caller's clock but not yet collected counts too). Bounded by the cap.
   */
  endAllFamilies(openid: string): Promise<number>;

  /** The user's live sessions (expiry after nowMs), newest login first. Bounded by the cap. */
  listSessions(openid: string, nowMs: number): Promise<SessionInfo[]>;

  /**
   * Deletes everything kept about the user: the record (session_key, unionid, login times) and every
   * family, each ended as by endAllFamilies; a ban stays. Answers whether there was anything to delete
   * and how many families it ended. Per-user rate-limit counters are not the store's (the rate limits
   * delete theirs). The shared results of login codes are keyed by code, not by user, and expire within
   * a minute by themselves.
   */
  deleteUser(openid: string): Promise<{ existed: boolean; sessionsEnded: number }>;

  /**
   * Bans the user (replacing a ban in force) and ends every family, atomically: a login racing it is
   * either ended or refused. The ban lifts itself at `untilMs` (caller's clock); without it, it lasts
   * until liftBan. Answers how many families it ended.
   */
  banUser(openid: string, ban: Ban, nowMs: number): Promise<number>;

  /** The ban in force (its `untilMs` after nowMs), or null. */
  getBan(openid: string, nowMs: number): Promise<Ban | null>;

  /** Lifts the user's ban; answers whether there was one. */
  liftBan(openid: string): Promise<boolean>;

  /**
   * Persons. An identity is an (app, openid) pair; those WeChat gave the same unionid are one person,
   * whose identities are listed under the unionid (another Cluster slot than any identity's). A login or
   * refresh answers `unlinked` when its identity has a unionid the person's list has not been told of
   * (its first login with it, or a record written before persons existed): the caller then calls
   * linkIdentity and, once that succeeded, markLinked, so a link that failed half-way is tried again.
   *
   * linkIdentity adds the identity to the person and answers the person's ban in force (an identity
   * joining a banned person is banned too: the caller applies it). One round trip.
   */
  linkIdentity(unionid: string, identity: Identity, nowMs: number): Promise<{ ban: Ban | null }>;

  /** Records on the identity that linkIdentity ran for `unionid`; nothing when its record names another. */
  markLinked(openid: string, unionid: string): Promise<void>;

  /** The person's identities (openid → appid as linked; '' when the record had none), in no order. */
  personIdentities(unionid: string): Promise<Identity[]>;

  /** Bans the person (identities that join later are refused too); each identity's ban is banUser's. */
  banPerson(unionid: string, ban: Ban, nowMs: number): Promise<void>;

  /** The person's ban in force, or null. */
  getPersonBan(unionid: string, nowMs: number): Promise<Ban | null>;

  /** Lifts the person's ban; answers whether there was one. */
  liftPersonBan(unionid: string): Promise<boolean>;

  /** Forgets the person's list of identities (a deletion of the person); the person's ban stays. */
  forgetPerson(unionid: string): Promise<void>;

  /**
   * Every identity whose record holds a unionid its person's list was not told of (records written
   * before persons existed), in pages: for the one pass that links them after an upgrade. Reads only;
   * Redis: SCAN on every master, then one pipelined read per page.
   */
  unlinkedIdentities(): AsyncIterable<Array<Identity & { unionid: string }>>;

  /**
   * Revocations, for the access tokens of ended sessions (their `sid` is the family id): `watcher` hears
   * of every family ended from now on, by this process or any other instance on the same store, and of
   * those ended in the last `windowMs` before it was registered (how long an access token lives, plus
   * clock tolerance: a revocation is forgotten after that, since every token it refuses has expired).
   * A family ended through this store object is passed on before the ending method resolves. Across
   * instances a revocation arrives within about a network round trip; while the store is unreachable
   * the watcher is told `blind`, and once reconnected `catching_up`, then `live` after it has been given
   * what it missed. Watchers stay registered until close().
   */
  watchRevocations(watcher: RevocationWatcher, options: { windowMs: number }): void;
}

/**
 * Each app's WeChat access_token, cached for every instance. `appid` names the app; undefined is the
 * first mini-program's, under the key it had before several apps (a rolling upgrade shares it).
 */
export interface WechatTokenCache {
  /**
   * The app's WeChat access_token, shared by every instance (it is the app's, not a user's). Answers the
   * token last put and its expiry, or null when none was put, it was invalidated, or it expired by the
   * caller's clock (nowMs >= expiresAtMs). Never extends anything. One round trip.
   */
  getWechatAccessToken(nowMs: number, appid?: string): Promise<CachedAccessToken | null>;

  /**
   * Caches `token` until `expiresAtMs` (the caller's clock; the caller subtracts its own safety margin
   * from WeChat's expires_in), replacing whatever was cached. The key's TTL is expiresAtMs - nowMs (at
   * least 1 ms), so an expiry already past stores nothing visible. One round trip.
   */
  putWechatAccessToken(token: string, expiresAtMs: number, nowMs: number, appid?: string): Promise<void>;

  /**
   * Compare-and-delete: drops the cached access_token only when it is `token`, so an instance that saw a
   * stale token rejected (40001) never deletes the fresh one another instance has put meanwhile. Answers
   * whether it dropped it. One round trip, atomic.
   */
  invalidateWechatAccessToken(token: string, appid?: string): Promise<boolean>;
}

/** Short locks across every instance. */
export interface Locks {
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
}

/** The double-submit single flight of login codes. */
export interface LoginCodes {
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
}

/**
 * The browser login of official accounts and websites (auth/oauth.ts): wxauth as an OAuth 2.0
 * authorization server. Only SHA-256 digests of the state and of the authorization code name the keys
 * (base64url, chosen by the caller): a dump of the store gives no state to replay nor a code to redeem.
 * Every method is one round trip; the two that consume are atomic against concurrent calls.
 */
export interface OAuthFlows {
  /**
   * An authorization request waiting for WeChat's redirect back, under the digest of the state wxauth
   * gave WeChat, for `ttlMs` (the store's own clock, like locks: it bounds how long a page may wait).
   */
  putAuthorizationRequest(stateHash: string, request: AuthorizationRequest, ttlMs: number): Promise<void>;
  /** Takes the request and forgets it in the same step: of two concurrent takes one gets it, the other null. */
  takeAuthorizationRequest(stateHash: string): Promise<AuthorizationRequest | null>;
  /**
   * An authorization code, under its digest, kept `keepMs` (the store's own clock) from now: its validity
   * (`grant.expiresAtMs`, the caller's clock) and then some, so that a replay after expiry is still known.
   */
  putAuthorizationCode(codeHash: string, grant: AuthorizationGrant, keepMs: number): Promise<void>;
  /**
   * Redeems a code: the first redemption before `grant.expiresAtMs` (by `nowMs`) gets it `fresh` and
   * marks it used, atomically (of concurrent redemptions exactly one is fresh); any later one gets
   * `replayed` with the session recordCodeSession wrote, if any, and marks the code replayed. A code
   * never used and past its expiry is `expired`; one not kept (never issued, or forgotten) `unknown`.
   */
  redeemAuthorizationCode(codeHash: string, nowMs: number): Promise<CodeRedemption>;
  /**
   * Records the session a fresh redemption opened, for a replay to end. Answers true when the code was
   * replayed meanwhile (between the redemption and now): the caller ends that session itself.
   */
  recordCodeSession(codeHash: string, openid: string, familyId: string): Promise<boolean>;
}

/** What GET /oauth/authorize was asked, kept until WeChat sends the browser back. */
export interface AuthorizationRequest {
  clientId: string;
  redirectUri: string;
  /** The client's own state, given back with the code; absent when it sent none. */
  clientState?: string;
  /** PKCE S256 code_challenge (base64url SHA-256 of the verifier: no secret). */
  codeChallenge: string;
  nonce?: string;
  /** The scopes asked (space-separated, as sent). */
  scope: string;
  /** Epoch ms, caller's clock. */
  createdAtMs: number;
}

/** What an authorization code stands for, until POST /oauth/token redeems it. */
export interface AuthorizationGrant {
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  nonce?: string;
  scope: string;
  openid: string;
  unionid?: string;
  /** When the person authenticated at WeChat (the callback), epoch ms: the ID token's auth_time. */
  authTimeMs: number;
  /** Epoch ms, caller's clock: redeemed at or after it, the code is `expired`. */
  expiresAtMs: number;
}

export type CodeRedemption =
  | { kind: 'fresh'; grant: AuthorizationGrant }
  /** The code was redeemed before: `familyId` is the session it opened (once recorded), of `openid`. */
  | { kind: 'replayed'; openid: string; familyId?: string }
  | { kind: 'expired' }
  | { kind: 'unknown' };

/**
 * Everything the service keeps, by concern; one adapter implements all of it on one connection. Callers
 * take the part they use (UserSessions, WechatTokenCache, Locks, LoginCodes, OAuthFlows).
 */
export interface SessionStore extends UserSessions, WechatTokenCache, Locks, LoginCodes, OAuthFlows {
  /**
   * The tickets of web login by scanning a mini-program code, on the same connection (web-login.ts):
   * app keys, and a feed of their changes across instances. The same object on every call.
   */
  webLogins(): WebLoginStore;

  /** Resolves when the store answers and takes writes; rejects otherwise. */
  ping(): Promise<void>;

  /** Releases connections. The store is unusable afterwards. */
  close(): Promise<void>;
}

export type LoginOutcome =
  /**
   * `unlinked`: see UserSessions.linkIdentity. `unionid`: what the record holds now (this login's, or one
   * an earlier login stored when this one brought none).
   */
  | { isNewUser: boolean; sessionsEnded: number; unlinked: boolean; unionid?: string }
  /** The user is banned: nothing was written (no session_key kept, no family opened). */
  | { banned: Ban }
  /**
   * The `whileLive` family ended (or expired), or a login without a session_key found no user record:
   * nothing was written.
   */
  | { ended: true };

export interface Ban {
  /** Why, as the admin gave it; none when not given. */
  reason?: string;
  /** When it lifts itself (epoch ms, caller's clock); none: until lifted. */
  untilMs?: number;
  /**
   * An identity's ban set for its whole person: the person's unionid, so the person's ban is found (and
   * lifted) from the identity even once its record, which held the unionid, was deleted.
   */
  unionid?: string;
}

/** One live session (refresh-token family) of a user, as the list of sessions shows it. */
export interface SessionInfo {
  /** The family id, which access tokens carry as `sid`. */
  id: string;
  /** Undefined for a family opened before logins recorded it. */
  createdAtMs: number | undefined;
  /** The last rotation; undefined when it never rotated. */
  refreshedAtMs: number | undefined;
  expiresAtMs: number;
  /** What the login said about the device; undefined when it said nothing. */
  device: string | undefined;
}

/** Told by the store of ended sessions; see SessionStore.watchRevocations. */
export interface RevocationWatcher {
  /** Families that ended: every access token naming one of them as `sid` is to be refused. Repeats are harmless. */
  revoked(sids: readonly string[]): void;
  /**
   * `blind`: disconnected, revocations elsewhere go unheard; `catching_up`: (re)connected, reading what
   * was missed, in pages of one command each (as long as the store's record of recent endings takes to
   * read), passing each on as it comes; `live`: every revocation so far has been passed on. A watcher
   * registered before the store was reached hears `catching_up` or `blind` first: until its first
   * `live` it has been told nothing of the past.
   */
  state(state: RevocationFeedState, details?: RevocationFeedDetails): void;
}

export type RevocationFeedState = 'blind' | 'catching_up' | 'live';

export interface RevocationFeedDetails {
  /** With `live`: how many revocations the catch-up passed on. */
  caughtUp?: number;
  /**
   * With `blind`: the catch-up failed to read the record, or could not subscribe (the store unreachable,
   * SUBSCRIBE refused), as the error said; it is tried again.
   */
  failure?: string;
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

/** One app's openid of a person. */
export interface Identity {
  openid: string;
  /** Undefined: a record written before several apps, which is the first mini-program's. */
  appid: string | undefined;
}

export interface UserRecord {
  sessionKey: string;
  unionid?: string;
  /** The identity's app; undefined in records written before several apps (the first mini-program's). */
  appid?: string;
  firstLoginAtMs: number;
  lastLoginAtMs: number;
}

/** What getAccount answers: the user record but its session_key. */
export type AccountRecord = Omit<UserRecord, 'sessionKey'>;

export interface LoginWrite {
  openid: string;
  /**
   * The session_key of the code exchange; absent for a session opened without one (a web login by
   * scanning), which keeps the user record's session_key as it was.
   */
  sessionKey?: string;
  unionid?: string;
  familyId: string;
  /** The 32-byte SHA-256 digest of the family's first token. */
  tokenHash: Buffer;
  nowMs: number;
  refreshTtlS: number;
  /** Absolute lifetime of the family from its login, seconds; none when undefined. */
  absoluteTtlS?: number;
  /** Live families the user may have, this one included (at least 1). */
  maxSessions: number;
  /** What the client said about its device (RedisStore keeps up to 255 bytes of its UTF-8). */
  device?: string;
  /** The identity's app, written on its first login (an identity belongs to one app). */
  appid?: string;
  /**
   * A code exchange without a session_key (a mobile App's): unlike a web login, it may make the record.
   */
  keyless?: boolean;
  /**
   * A family id of the same user that must be live (expiry after nowMs) for this family to open: a web
   * login opens only while the session that confirmed it lasts. Checked in the same atomic step: an
   * ending that races the login comes either before it (the login gets `ended`) or after it.
   */
  whileLive?: string;
}

/** What a refresh learns of its identity on the way: its unionid and app, and whether to link it. */
export interface RotatedIdentity {
  unionid?: string;
  appid?: string;
  /** See UserSessions.linkIdentity. */
  unlinked?: boolean;
}

export interface RotateRequest {
  openid: string;
  familyId: string;
  /** 32-byte SHA-256 digests, as `tokenHash`. */
  presentedHash: Buffer;
  nextHash: Buffer;
  /** Opaque bytes to the store (32 of them from the service); returned exactly by a `grace` answer. */
  successorSeed: Buffer;
  nowMs: number;
  refreshTtlS: number;
  /** Seconds after a rotation during which the previous token is answered with `grace`. */
  graceS: number;
}

export type RotateOutcome =
  /** `presentedHash` was current; `nextHash` is current now. */
  | ({ kind: 'rotated'; expiresAtMs: number } & RotatedIdentity)
  /**
   * `presentedHash` is the previous token, rotated less than `graceS` ago (a concurrent or retried
   * refresh): nothing changes, and the caller rebuilds the same successor from `successorSeed`.
   */
  | ({ kind: 'grace'; successorSeed: Buffer; expiresAtMs: number } & RotatedIdentity)
  /**
   * The family is live but `presentedHash` is neither its current token nor its previous one within the
   * grace: an old token presented again (or one the store cannot tell from it). The family is ended.
   */
  | { kind: 'reused' }
  /** Unknown or ended family, or the family expired (nowMs >= its expiry). Nothing changed. */
  | { kind: 'invalid' };
