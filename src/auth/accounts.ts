import type { Logger } from 'pino';
import { z } from 'zod';
import type { Clock } from '../lib/index.js';
import { epochSeconds } from '../lib/index.js';
import type { RevocationCause } from '../metrics/index.js';
import type { Ban, SessionInfo, SessionStore } from '../store/index.js';

/**
 * One session as GET /auth/sessions and the admin API show it (times in epoch seconds): the type and,
 * through z.toJSONSchema, the document's shape (never parsed at answer time).
 */
export const SessionView = z.object({
  id: z.string().meta({ description: "The session's id: the access tokens' sid." }),
  created_at: z
    .int()
    .nullable()
    .meta({ description: 'Epoch seconds of the login; null for a session older than this record.' }),
  refreshed_at: z
    .int()
    .nullable()
    .meta({ description: 'Epoch seconds of the last refresh (the login when never refreshed).' }),
  expires_at: z.int().meta({ description: 'Epoch seconds; each refresh slides it.' }),
  device: z.string().nullable().meta({ description: "The login's device, as it gave it." }),
});
export type SessionView = z.infer<typeof SessionView>;

/** What the admin API shows of a user, never the session_key: the type and the document's shape. */
export const AccountView = z.object({
  openid: z.string(),
  unionid: z.string().optional(),
  // null once the account was deleted (a ban outlives it).
  first_login_at: z.int().nullable().meta({ description: 'Epoch seconds.' }),
  last_login_at: z.int().nullable().meta({ description: 'Epoch seconds.' }),
  banned: z
    .object({
      reason: z.string().nullable(),
      until: z.int().nullable().meta({ description: 'Epoch seconds; null: until lifted.' }),
    })
    .nullable(),
  sessions: z
    .array(SessionView)
    .meta({ description: 'As GET /auth/sessions lists them, without `current`.' }),
});
export type AccountView = z.infer<typeof AccountView>;

/** What a user sees and ends of their own account, and what support does to it. */
export interface Accounts {
  /** The user's live sessions, newest login first. */
  sessions(openid: string): Promise<SessionView[]>;
  /** Ends one session of the user's; an id that is unknown, ended or another user's ends nothing. */
  endSession(openid: string, id: string): Promise<void>;
  /**
   * Deletes everything kept about the user (record and session_key, every session, per-user rate-limit
   * counters); a ban stays. Answers whether there was anything.
   */
  deleteAccount(openid: string): Promise<boolean>;
  /**
   * The user as support sees it, or null when this service knows nothing of them (no record, no ban, no
   * live session). Known whether or not their session_key can be read.
   */
  lookup(openid: string): Promise<AccountView | null>;
  /** Ends every session (an admin's "log out everywhere"); false: the user is unknown. */
  logoutEverywhere(openid: string): Promise<boolean>;
  /** Bans the user (ending every session) until `ban.untilMs` or until lifted; false: unknown. */
  ban(openid: string, ban: Ban): Promise<boolean>;
  /** Lifts a ban; false: the user is unknown. */
  liftBan(openid: string): Promise<boolean>;
  /** deleteAccount for support; false: unknown (nothing deleted). */
  remove(openid: string): Promise<boolean>;
}

export interface AccountsOptions {
  store: SessionStore;
  clock: Clock;
  logger: Logger;
  /** Deletes the user's per-user rate-limit counters. */
  forgetCounters(openid: string): Promise<void>;
  onRevoked?: (cause: RevocationCause, count: number) => void;
}

/** A family id as refresh tokens carry it (12 bytes, base64url); anything else names no session. */
const SESSION_ID = /^[A-Za-z0-9_-]{16}$/;

export function createAccounts(options: AccountsOptions): Accounts {
  const { store, clock, logger, forgetCounters } = options;
  const revoked = (cause: RevocationCause, count: number) => {
    if (count > 0) options.onRevoked?.(cause, count);
  };

  /**
   * What the service keeps of the user: the record (read without its session_key, which may be missing
   * or sealed under a key no longer configured), a ban, the live sessions; null when none of them.
   */
  async function found(openid: string) {
    const now = clock.now();
    const [account, ban, sessions] = await Promise.all([
      store.getAccount(openid),
      store.getBan(openid, now),
      store.listSessions(openid, now),
    ]);
    return account === null && ban === null && sessions.length === 0 ? null : { account, ban, sessions };
  }
  const known = async (openid: string) => (await found(openid)) !== null;

  async function deleteAll(openid: string): Promise<boolean> {
    const { existed, sessionsEnded } = await store.deleteUser(openid);
    revoked('account_deleted', sessionsEnded);
    await forgetCounters(openid);
    if (existed)
      logger.info({ event: 'account_deleted', openid, sessions: sessionsEnded }, 'account deleted');
    return existed;
  }

  return {
    async sessions(openid) {
      return (await store.listSessions(openid, clock.now())).map(view);
    },

    async endSession(openid, id) {
      if (!SESSION_ID.test(id)) return;
      if (await store.endSession(openid, id, clock.now())) revoked('session_ended', 1);
    },

    deleteAccount: deleteAll,

    async lookup(openid) {
      const kept = await found(openid);
      if (kept === null) return null;
      const { account: user, ban, sessions } = kept;
      return {
        openid,
        ...(user?.unionid === undefined ? {} : { unionid: user.unionid }),
        first_login_at: user === null ? null : epochSeconds(user.firstLoginAtMs),
        last_login_at: user === null ? null : epochSeconds(user.lastLoginAtMs),
        banned:
          ban === null
            ? null
            : {
                reason: ban.reason ?? null,
                until: ban.untilMs === undefined ? null : epochSeconds(ban.untilMs),
              },
        sessions: sessions.map(view),
      };
    },

    async logoutEverywhere(openid) {
      if (!(await known(openid))) return false;
      revoked('admin_logout', await store.endAllFamilies(openid));
      return true;
    },

    async ban(openid, ban) {
      if (!(await known(openid))) return false;
      revoked('ban', await store.banUser(openid, ban, clock.now()));
      return true;
    },

    async liftBan(openid) {
      if (!(await known(openid))) return false;
      await store.liftBan(openid);
      return true;
    },

    async remove(openid) {
      const wasKnown = await known(openid);
      // Run for an unknown user too: a retry after a deletion that failed half-way finds what is left
      // (see deleteUser) and finishes it.
      const existed = await deleteAll(openid);
      return wasKnown || existed;
    },
  };
}

function view(session: SessionInfo): SessionView {
  const seconds = (ms: number | undefined) => (ms === undefined ? null : epochSeconds(ms));
  return {
    id: session.id,
    created_at: seconds(session.createdAtMs),
    refreshed_at: seconds(session.refreshedAtMs ?? session.createdAtMs),
    expires_at: epochSeconds(session.expiresAtMs),
    device: session.device ?? null,
  };
}
