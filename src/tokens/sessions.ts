import type { Logger } from 'pino';
import { z } from 'zod';
import type { AppDirectory, WechatApp } from '../config/apps.js';
import { AccessDenied, InvalidGrant } from '../errors/index.js';
import { type Clock, randomId } from '../lib/index.js';
import type { RevocationCause, TokenEvent } from '../metrics/index.js';
import { personOf, type SessionStore } from '../store/index.js';
import type { AccessGrant, AccessTokens } from './access.js';
import { mintRefreshToken, newSuccessorSeed, parseRefreshToken, successorOf } from './refresh-token.js';

/**
 * RFC 6749 §5.1 token response, as the contract shapes it: the type the code returns and, through
 * z.toJSONSchema, the document's TokenResponse (never parsed at answer time).
 */
export const TokenResponse = z.object({
  access_token: z.string(),
  token_type: z.literal('Bearer'),
  expires_in: z.int(),
  refresh_token: z.string().meta({ description: 'Opaque; single use (rotates).' }),
  refresh_expires_in: z.int(),
  openid: z.string(),
  unionid: z.string().optional(),
  is_new_user: z.boolean().optional().meta({ description: 'Login only.' }),
});
export type TokenResponse = z.infer<typeof TokenResponse>;

export interface SessionPolicy {
  refreshTtlS: number;
  refreshMaxLifetimeS: number | undefined;
  reuseGraceS: number;
  /** Live sessions (refresh-token families) a user may have; a login beyond it ends the oldest. */
  maxSessions: number;
}

export interface Sessions {
  /**
   * After a successful code exchange: keeps the session_key, opens a refresh family (remembering what
   * the client said its `device` is), answers tokens. A banned user gets AccessDenied and nothing is kept.
   */
  login(user: {
    openid: string;
    /** Absent for a mobile App's identity: its exchange gives none. */
    sessionKey?: string;
    unionid?: string;
    device?: string;
    /** The app the code was exchanged for; default the directory's legacy app. */
    app?: WechatApp;
  }): Promise<TokenResponse>;
  /**
   * A session for a user already known, opened without a code exchange (the web login by scanning a
   * mini-program code) while the user's session `whileLive` (the one that confirmed it) is live: the
   * user's session_key stays as the last login left it. The answer carries the stored unionid and no
   * is_new_user. Null, with nothing opened, when that session ended or the user was deleted; a banned
   * user gets AccessDenied.
   */
  openSession(user: { openid: string; device: string; whileLive: string }): Promise<TokenResponse | null>;
  /** Rotation with reuse detection; every refusal is `invalid_grant`. */
  refresh(presented: string): Promise<TokenResponse>;
  /**
   * Ends the caller's session `sid` (the access token's), and the family of `refreshToken` too when that
   * token is the caller's; a refresh token that is unknown, stale or another user's ends nothing else.
   */
  logout(caller: { openid: string; sid: string | undefined }, refreshToken: string): Promise<void>;
  /** Ends every session of the person (every identity linked by unionid, in every app). */
  logoutAll(openid: string): Promise<number>;
  /**
   * Links every identity written before persons existed (a unionid in its record, in no person's list) to
   * its person, once per store for the whole deployment: after an upgrade, a person-wide operation from a
   * new app then reaches the one-app sessions too, before they ever log in or refresh again. Answers how
   * many it linked, or null when another instance did or does it.
   */
  linkUpgraded(): Promise<number | null>;
}

const UNKNOWN = 'The refresh token is unknown, expired or revoked: log in again.';
const APP_GONE = 'The app of this session is no longer served here: log in again.';
const LINKED_MARK = 'persons-linked';
/** A century: the mark that the one pass after the upgrade to persons was made. */
const LINKED_MARK_MS = 100 * 365 * 86_400_000;
const LINKING_LOCK = 'persons-linking';
const LINKING_LOCK_MS = 10 * 60_000;

function bannedError(ban: { untilMs?: number }): AccessDenied {
  const until = ban.untilMs;
  return new AccessDenied(
    until === undefined
      ? 'This account may not log in: it is banned.'
      : `This account may not log in: it is banned until ${new Date(until).toISOString()}.`,
  );
}

export function createSessions(deps: {
  store: SessionStore;
  access: AccessTokens;
  /** The apps: which one a session is of decides its tokens' client_id, aud and claims. */
  apps?: AppDirectory;
  clock: Clock;
  logger: Logger;
  policy: SessionPolicy;
  onTokenEvent?: (event: TokenEvent, count?: number) => void;
  /** Sessions ended, by why: their access tokens are refused from now on (see watchRevocations). */
  onRevoked?: (cause: RevocationCause, count: number) => void;
}): Sessions {
  const { store, access, clock, logger, policy } = deps;
  const observe = deps.onTokenEvent ?? (() => {});
  const revoked = (cause: RevocationCause, count: number) => {
    observe('revoked', count);
    deps.onRevoked?.(cause, count);
  };

  /** The app's grant: client_id, aud, and the unionid when the app asks for it. */
  function grantOf(app: WechatApp | undefined, unionid: string | undefined): AccessGrant | undefined {
    if (app === undefined) return undefined;
    return {
      clientId: app.appid,
      audience: app.audience,
      ...(unionid !== undefined && app.claims.includes('unionid') ? { unionid } : {}),
    };
  }

  /**
   * An identity whose unionid its person's list does not hold yet joins it (another slot: its own round
   * trip, once per identity); then it is marked, so that a failure on the way is tried again at the next
   * login or refresh. An identity joining a banned person is banned too, and its login refused.
   */
  async function link(openid: string, unionid: string, appid: string | undefined): Promise<void> {
    const nowMs = clock.now();
    const { ban } = await store.linkIdentity(unionid, { openid, appid }, nowMs);
    if (ban !== null) {
      const ended = await store.banUser(openid, { ...ban, unionid }, nowMs);
      if (ended > 0) revoked('ban', ended);
      logger.info({ event: 'login_banned', openid }, 'identity joined a banned person: banned too');
      throw bannedError(ban);
    }
    await store.markLinked(openid, unionid);
    logger.info({ event: 'identity_linked', openid, appid }, 'identity linked to its person by unionid');
  }

  async function answer(
    openid: string,
    familyId: string,
    refreshToken: string,
    expiresAtMs: number,
    extra: { unionid?: string; is_new_user?: boolean; app?: WechatApp | undefined },
  ): Promise<TokenResponse> {
    // The session's id is its family's: the access token names it, never the refresh token.
    const issued = await access.issue(openid, familyId, grantOf(extra.app, extra.unionid));
    return {
      access_token: issued.token,
      token_type: 'Bearer',
      expires_in: issued.expiresIn,
      refresh_token: refreshToken,
      refresh_expires_in: Math.max(0, Math.ceil((expiresAtMs - clock.now()) / 1000)),
      openid,
      ...(extra.unionid ? { unionid: extra.unionid } : {}),
      ...(extra.is_new_user === undefined ? {} : { is_new_user: extra.is_new_user }),
    };
  }

  /**
   * A new family for the user; without a session_key (a web login) the stored one is kept. Null: the
   * store answered `ended` (see LoginWrite.whileLive), and nothing was opened.
   */
  async function openFamily(user: {
    openid: string;
    sessionKey?: string;
    unionid?: string;
    device?: string;
    whileLive?: string;
    app?: WechatApp | undefined;
  }): Promise<TokenResponse | null> {
    const { openid, sessionKey, unionid, device, whileLive, app } = user;
    const minted = mintRefreshToken(openid);
    const nowMs = clock.now();
    const recorded = await store.recordLogin({
      openid,
      ...(sessionKey === undefined ? {} : { sessionKey }),
      ...(unionid ? { unionid } : {}),
      familyId: minted.familyId,
      tokenHash: minted.hash,
      nowMs,
      refreshTtlS: policy.refreshTtlS,
      ...(policy.refreshMaxLifetimeS ? { absoluteTtlS: policy.refreshMaxLifetimeS } : {}),
      maxSessions: policy.maxSessions,
      ...(device ? { device } : {}),
      ...(whileLive === undefined ? {} : { whileLive }),
      ...(app === undefined ? {} : { appid: app.appid }),
      ...(whileLive === undefined && sessionKey === undefined ? { keyless: true } : {}),
    });
    if ('ended' in recorded) return null;
    if ('banned' in recorded) {
      logger.info({ event: 'login_banned', openid }, 'login refused: the user is banned');
      throw bannedError(recorded.banned);
    }
    const { isNewUser, sessionsEnded } = recorded;
    // A login WeChat gave no unionid (an official account's silent one) still carries the one known.
    const known = unionid || recorded.unionid;
    if (recorded.unlinked && known) {
      try {
        await link(openid, known, app?.appid);
      } catch (error) {
        // Nothing reaches the client: the session just opened must not outlive the refusal.
        if (await store.endSession(openid, minted.familyId, clock.now()).catch(() => false))
          revoked('ban', 1);
        throw error;
      }
    }
    observe('issued');
    if (sessionsEnded > 0) {
      revoked('session_cap', sessionsEnded);
      logger.info(
        { event: 'session_cap', openid, ended: sessionsEnded, cap: policy.maxSessions },
        'login past the session cap: the least recently used session ended',
      );
    }
    const ttlS = Math.min(policy.refreshTtlS, policy.refreshMaxLifetimeS ?? Number.POSITIVE_INFINITY);
    return answer(openid, minted.familyId, minted.token, nowMs + ttlS * 1000, {
      ...(known ? { unionid: known } : {}),
      is_new_user: isNewUser,
      app,
    });
  }

  /** The app of a stored identity; one written before several apps is the legacy app's. */
  function appOf(appid: string | undefined): WechatApp | undefined {
    if (deps.apps === undefined) return undefined;
    return appid === undefined ? deps.apps.legacy : deps.apps.get(appid);
  }

  return {
    async login(user) {
      const tokens = await openFamily({ ...user, app: user.app ?? deps.apps?.legacy });
      // Only a login without a session_key, or one tied to another session, is ever refused so.
      if (tokens === null) throw new Error('recordLogin answered ended to a code exchange');
      return tokens;
    },

    async openSession({ openid, device, whileLive }) {
      // The unionid the mini-program's login stored, which a website often links accounts by; read
      // without the session_key, which a web login neither needs nor may be able to open.
      const account = await store.getAccount(openid);
      const unionid = account?.unionid;
      const opened = await openFamily({
        openid,
        device,
        whileLive,
        app: appOf(account?.appid),
        ...(unionid ? { unionid } : {}),
      });
      if (opened === null) return null;
      const { is_new_user: _, ...tokens } = opened;
      return tokens;
    },

    async refresh(presented) {
      const parsed = parseRefreshToken(presented);
      if (!parsed) throw new InvalidGrant(UNKNOWN);
      const seed = newSuccessorSeed();
      const next = successorOf({ ...parsed, token: presented }, seed);
      const outcome = await store.rotateRefresh({
        openid: parsed.openid,
        familyId: parsed.familyId,
        presentedHash: parsed.hash,
        nextHash: next.hash,
        successorSeed: seed,
        nowMs: clock.now(),
        refreshTtlS: policy.refreshTtlS,
        graceS: policy.reuseGraceS,
      });
      switch (outcome.kind) {
        case 'rotated':
        case 'grace': {
          observe('refreshed');
          const app = appOf(outcome.appid);
          // An app taken out of the configuration serves no more sessions: its tokens could not be
          // told from another app's.
          if (deps.apps !== undefined && app === undefined) throw new InvalidGrant(APP_GONE);
          // A record from before persons existed, or whose link failed: joined now, at most once.
          if (outcome.unlinked && outcome.unionid !== undefined)
            await link(parsed.openid, outcome.unionid, outcome.appid).catch((error: unknown) => {
              if (error instanceof AccessDenied) throw new InvalidGrant(UNKNOWN);
              // The rotation stands; the link is tried again at the next refresh or login.
              logger.warn({ event: 'identity_link_failed', openid: parsed.openid }, 'linking deferred');
            });
          const token =
            outcome.kind === 'rotated'
              ? next.token
              : successorOf({ ...parsed, token: presented }, outcome.successorSeed).token;
          return answer(parsed.openid, parsed.familyId, token, outcome.expiresAtMs, { ...outcome, app });
        }
        case 'reused':
          observe('reuse_detected');
          revoked('reuse', 1);
          logger.warn(
            { event: 'refresh_token_reuse', openid: parsed.openid, family: parsed.familyId },
            'refresh token presented again after the grace window: family revoked',
          );
          throw new InvalidGrant(
            'The refresh token was already used, so every token of this login has been revoked: log in again.',
          );
        case 'invalid':
          throw new InvalidGrant(UNKNOWN);
      }
    },

    async logout({ openid, sid }, refreshToken) {
      let ended = 0;
      const parsed = parseRefreshToken(refreshToken);
      // Another session of the caller's, proved by its token; the access token's own needs no proof.
      if (parsed?.openid === openid && parsed.familyId !== sid) {
        if (await store.endFamily(openid, parsed.familyId, parsed.hash)) ended += 1;
      }
      // The session the access token names ends whatever refresh token came with it (a stale one, or
      // none of the caller's): otherwise a client holding an old token could not log itself out.
      if (sid !== undefined && (await store.endSession(openid, sid, clock.now()))) ended += 1;
      if (ended > 0) revoked('logout', ended);
    },

    async linkUpgraded() {
      // "Done" is a lock that never ends; asking for it for 1 ms answers whether it is there.
      if (!(await store.acquireLock(LINKED_MARK, randomId(8), 1))) return null;
      const owner = randomId(8);
      if (!(await store.acquireLock(LINKING_LOCK, owner, LINKING_LOCK_MS))) return null;
      let linked = 0;
      try {
        for await (const page of store.unlinkedIdentities()) {
          for (const { openid, unionid, appid } of page) {
            // A banned person's identity is banned by link() and stays so; nothing else to do for it.
            await link(openid, unionid, appid).catch((error: unknown) => {
              if (!(error instanceof AccessDenied)) throw error;
            });
            linked += 1;
          }
        }
        await store.acquireLock(LINKED_MARK, 'done', LINKED_MARK_MS);
        logger.info(
          { event: 'identities_linked', linked },
          'identities from before several apps linked to their persons',
        );
        return linked;
      } finally {
        await store.releaseLock(LINKING_LOCK, owner).catch(() => false);
      }
    },

    async logoutAll(openid) {
      // Every session of the person, in every app: one round trip per identity, in parallel.
      const { identities } = await personOf(store, openid);
      const counts = await Promise.all(identities.map((identity) => store.endAllFamilies(identity.openid)));
      const ended = counts.reduce((sum, count) => sum + count, 0);
      if (ended > 0) revoked('logout_all', ended);
      return ended;
    },
  };
}
