import type { Logger } from 'pino';
import { z } from 'zod';
import { APP_KINDS, type AppDirectory, type AppKind } from '../config/apps.js';
import type { Clock } from '../lib/index.js';
import { epochSeconds } from '../lib/index.js';
import type { RevocationCause } from '../metrics/index.js';
import {
  type AccountRecord,
  type Ban,
  type Identity,
  newestFirst,
  type Person,
  personByUnionid,
  personOf,
  type SessionInfo,
  type SessionStore,
} from '../store/index.js';

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
  app: z
    .object({
      appid: z.string(),
      name: z
        .string()
        .meta({ description: "The app's name, as the apps file gives it (default its appid)." }),
      kind: z.enum(APP_KINDS as [AppKind, ...AppKind[]]),
    })
    .meta({ description: 'The WeChat app the session was opened through.' }),
});
export type SessionView = z.infer<typeof SessionView>;

/** One identity of a person: an app's openid. */
export const IdentityView = z.object({
  appid: z.string(),
  openid: z.string(),
  first_login_at: z.int().nullable().meta({ description: 'Epoch seconds; null once deleted.' }),
  last_login_at: z.int().nullable().meta({ description: 'Epoch seconds; null once deleted.' }),
});
export type IdentityView = z.infer<typeof IdentityView>;

/** What the admin API shows of a user, never the session_key: the type and the document's shape. */
export const AccountView = z.object({
  openid: z.string().meta({
    description: 'The identity asked for; asked by unionid, the identity that logged in last.',
  }),
  unionid: z.string().optional(),
  identities: z
    .array(IdentityView)
    .meta({ description: "The person's identities, one per app that saw them (linked by unionid)." }),
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
    .meta({ description: "As GET /auth/sessions lists them (every app's), without `current`." }),
});
export type AccountView = z.infer<typeof AccountView>;

/**
 * What a person sees and ends of their own account, and what support does to it. Every operation is
 * the person's: each identity WeChat gave the same unionid, in every app. Support names a person by any
 * of their openids or by their unionid (`id`).
 */
export interface Accounts {
  /** The person's live sessions in every app, newest login first. */
  sessions(openid: string): Promise<SessionView[]>;
  /** Ends one session of the person's; an id that is unknown, ended or another person's ends nothing. */
  endSession(openid: string, id: string): Promise<void>;
  /**
   * Deletes everything kept about the person (every identity's record and session_key, every session,
   * per-user rate-limit counters); a ban stays. Answers whether there was anything.
   */
  deleteAccount(openid: string): Promise<boolean>;
  /**
   * The person as support sees them, or null when this service knows nothing of them (no record, no
   * ban, no live session). Known whether or not their session_key can be read.
   */
  lookup(id: string): Promise<AccountView | null>;
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
  apps: AppDirectory;
  clock: Clock;
  logger: Logger;
  /** Deletes the user's per-user rate-limit counters. */
  forgetCounters(openid: string): Promise<void>;
  onRevoked?: (cause: RevocationCause, count: number) => void;
}

/** A family id as refresh tokens carry it (12 bytes, base64url); anything else names no session. */
const SESSION_ID = /^[A-Za-z0-9_-]{16}$/;

export function createAccounts(options: AccountsOptions): Accounts {
  const { store, apps, clock, logger, forgetCounters } = options;
  const revoked = (cause: RevocationCause, count: number) => {
    if (count > 0) options.onRevoked?.(cause, count);
  };
  const sum = (counts: number[]) => counts.reduce((total, count) => total + count, 0);

  /** The person's live sessions, each with its app; sessions of apps no longer served are left out. */
  async function sessionsOf(identities: Identity[], nowMs: number): Promise<SessionView[]> {
    const lists = await Promise.all(
      identities.map(async (identity) => {
        const app = identity.appid === undefined ? apps.legacy : apps.get(identity.appid);
        if (app === undefined) return [];
        const appView = { appid: app.appid, name: app.name, kind: app.kind };
        return (await store.listSessions(identity.openid, nowMs)).map((session) => ({ session, appView }));
      }),
    );
    // By the store's milliseconds: two logins within one second keep their order.
    return lists
      .flat()
      .sort((a, b) => newestFirst(a.session, b.session))
      .map(({ session, appView }) => view(session, appView));
  }

  /**
   * The person support names by `id` (an openid, else a unionid), with what the service keeps of each
   * identity (read without its session_key, which may be missing or sealed under a key no longer
   * configured), their bans and live sessions, and whether it keeps anything of them at all (`known`).
   * The admin actions act on the person it found: it is read once.
   */
  async function inspect(id: string) {
    const now = clock.now();
    const person = await personFor(id);
    const { identities, unionid } = person;
    const [records, bans, personBan, sessions] = await Promise.all([
      Promise.all(identities.map((identity) => store.getAccount(identity.openid))),
      Promise.all(identities.map((identity) => store.getBan(identity.openid, now))),
      unionid === undefined ? null : store.getPersonBan(unionid, now),
      sessionsOf(identities, now),
    ]);
    const ban = personBan ?? bans.find((b) => b !== null) ?? null;
    const known = records.some((r) => r !== null) || ban !== null || sessions.length > 0;
    return { person, known, records, ban, sessions };
  }

  /**
   * Every identity of the person of `openid`, or of the unionid support names (an openid never seen). An
   * identity deleted while banned has no record left to name its person: its ban does, so the person's
   * ban is still found, and lifted, from it.
   */
  async function personFor(id: string): Promise<Person> {
    const person = await personOf(store, id);
    if (person.account !== null || person.unionid !== undefined) return person;
    const bannedAs = (await store.getBan(id, clock.now()))?.unionid;
    if (bannedAs !== undefined) {
      const others = (await store.personIdentities(bannedAs)).filter((identity) => identity.openid !== id);
      return { unionid: bannedAs, identities: [...person.identities, ...others] };
    }
    return (await personByUnionid(store, id)) ?? person;
  }

  async function deleteAll(person: Person): Promise<boolean> {
    const results = await Promise.all(person.identities.map(({ openid }) => store.deleteUser(openid)));
    const sessionsEnded = sum(results.map((r) => r.sessionsEnded));
    revoked('account_deleted', sessionsEnded);
    // A banned person's list stays, as the ban does: support finds them by unionid, and lifts it.
    if (person.unionid !== undefined && (await store.getPersonBan(person.unionid, clock.now())) === null)
      await store.forgetPerson(person.unionid);
    await Promise.all(person.identities.map(({ openid }) => forgetCounters(openid)));
    const existed = results.some((r) => r.existed);
    if (existed) {
      const openids = person.identities.map((identity) => identity.openid);
      logger.info(
        { event: 'account_deleted', openid: openids[0], identities: openids, sessions: sessionsEnded },
        'account deleted',
      );
    }
    return existed;
  }

  return {
    async sessions(openid) {
      const { identities } = await personOf(store, openid);
      return sessionsOf(identities, clock.now());
    },

    async endSession(openid, id) {
      if (!SESSION_ID.test(id)) return;
      // The id is one identity's family: asked of each (one of them at most has it).
      const { identities } = await personOf(store, openid);
      const now = clock.now();
      const ended = await Promise.all(
        identities.map((identity) => store.endSession(identity.openid, id, now)),
      );
      if (ended.some(Boolean)) revoked('session_ended', 1);
    },

    async deleteAccount(openid) {
      return deleteAll(await personOf(store, openid));
    },

    async lookup(id) {
      const { known, person, records, ban, sessions } = await inspect(id);
      if (!known) return null;
      const seconds = (ms: number | undefined) => (ms === undefined ? null : epochSeconds(ms));
      const identities = person.identities.map((identity, i) => ({
        appid: identity.appid ?? apps.legacy.appid,
        openid: identity.openid,
        first_login_at: seconds(records[i]?.firstLoginAtMs),
        last_login_at: seconds(records[i]?.lastLoginAtMs),
      }));
      const kept = records.filter((r): r is AccountRecord => r !== null);
      const asked = person.identities.some((identity) => identity.openid === id);
      const latest = [...identities].sort((a, b) => (b.last_login_at ?? 0) - (a.last_login_at ?? 0))[0]!;
      return {
        openid: asked ? id : latest.openid,
        ...(person.unionid === undefined ? {} : { unionid: person.unionid }),
        identities,
        first_login_at:
          kept.length === 0 ? null : epochSeconds(Math.min(...kept.map((r) => r.firstLoginAtMs))),
        last_login_at: kept.length === 0 ? null : epochSeconds(Math.max(...kept.map((r) => r.lastLoginAtMs))),
        banned:
          ban === null
            ? null
            : {
                reason: ban.reason ?? null,
                until: ban.untilMs === undefined ? null : epochSeconds(ban.untilMs),
              },
        sessions,
      };
    },

    async logoutEverywhere(id) {
      const { known, person } = await inspect(id);
      if (!known) return false;
      const { identities } = person;
      revoked('admin_logout', sum(await Promise.all(identities.map((i) => store.endAllFamilies(i.openid)))));
      return true;
    },

    async ban(id, ban) {
      const { known, person } = await inspect(id);
      if (!known) return false;
      const { identities, unionid } = person;
      const now = clock.now();
      // The person's ban first: an identity linking meanwhile is refused by it.
      if (unionid !== undefined) await store.banPerson(unionid, ban, now);
      const personal = unionid === undefined ? ban : { ...ban, unionid };
      revoked('ban', sum(await Promise.all(identities.map((i) => store.banUser(i.openid, personal, now)))));
      return true;
    },

    async liftBan(id) {
      const { known, person } = await inspect(id);
      if (!known) return false;
      const { identities, unionid } = person;
      if (unionid !== undefined) await store.liftPersonBan(unionid);
      await Promise.all(identities.map((i) => store.liftBan(i.openid)));
      return true;
    },

    async remove(id) {
      const { known, person } = await inspect(id);
      // Run for an unknown user too: a retry after a deletion that failed half-way finds what is left
      // (see deleteUser) and finishes it.
      const existed = await deleteAll(person);
      return known || existed;
    },
  };
}

function view(session: SessionInfo, app: SessionView['app']): SessionView {
  const seconds = (ms: number | undefined) => (ms === undefined ? null : epochSeconds(ms));
  return {
    id: session.id,
    created_at: seconds(session.createdAtMs),
    refreshed_at: seconds(session.refreshedAtMs ?? session.createdAtMs),
    expires_at: epochSeconds(session.expiresAtMs),
    device: session.device ?? null,
    app,
  };
}
