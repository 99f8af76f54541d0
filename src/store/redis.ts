import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import { TemporarilyUnavailable } from '../errors/index.js';
import { decodeSessionKey, encodeDevice, encodeSessionKey, seedOf, storedSeed } from './codec.js';
import { reconnectDelay } from './connection.js';
import { appKeys, personKeys, userKeys } from './keys.js';
import { RevocationFeed } from './revocation-feed.js';
import {
  ACQUIRE_LOCK,
  BAN_USER,
  CLAIM_LOGIN_CODE,
  DELETE_USER,
  END_ALL_FAMILIES,
  END_FAMILY,
  END_SESSION,
  INVALIDATE_ACCESS_TOKEN,
  LINK_IDENTITY,
  LIST_SESSIONS,
  LOG_REVOCATIONS,
  MARK_LINKED,
  PUT_AUTHORIZATION_CODE,
  RECORD_CODE_SESSION,
  RECORD_LOGIN,
  REDEEM_AUTHORIZATION_CODE,
  RELEASE_LOCK,
  RELEASE_LOGIN_CODE,
  RESTART_GRACE,
  ROTATE_REFRESH,
  TAKE_AUTHORIZATION_REQUEST,
} from './scripts.js';
import { StallGuard } from './stall-guard.js';
import type * as Store from './types.js';
import { UnloggedEndings } from './unlogged-endings.js';
import { RedisWebLoginStore, type WebLoginStore } from './web-login.js';

export interface RedisConnectOptions {
  /** `redis://…` or `rediss://…` of a single Redis. */
  url?: string;
  /** `host:port` seeds of a Redis Cluster; used instead of `url`. */
  clusterNodes?: string[];
  /** `host:port` of Sentinels, with `sentinelName`; used instead of `url`. */
  sentinels?: string[];
  sentinelName?: string;
  /** How long one connection attempt may take. Default 2000. */
  connectTimeoutMs?: number;
  /** How long one command may wait for its answer before it fails. Default 1000. */
  commandTimeoutMs?: number;
  /** Receives the client's connection errors (one per failed reconnect during an outage). */
  onError?: (error: Error) => void;
}

/**
 * Builds the ioredis client, tuned to fail fast during an outage: no offline queue (a command sent while
 * disconnected fails at once), no retry of a command whose connection dropped, and a command timeout;
 * meanwhile it reconnects forever in the background. Commands sent before the first `ready` event fail
 * too, so wait for it (or for a successful `ping()`) before taking traffic.
 */
export function connectRedis(options: RedisConnectOptions): Redis | Cluster {
  const common: RedisOptions = {
    enableOfflineQueue: false,
    // 0: a command in flight when the connection drops fails at once instead of being sent again after
    // the reconnect, when the caller has long given up on it.
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs ?? 1000,
    connectTimeout: options.connectTimeoutMs ?? 2000,
    retryStrategy: reconnectDelay,
    // After a failover the old primary answers writes with READONLY: reconnect to find the new one.
    reconnectOnError: (error) => error.message.startsWith('READONLY'),
  };

  let client: Redis | Cluster;
  if (options.clusterNodes !== undefined && options.clusterNodes.length > 0) {
    const { retryStrategy, reconnectOnError, ...nodeOptions } = common;
    const clusterOptions: ClusterOptions = {
      enableOfflineQueue: false,
      clusterRetryStrategy: reconnectDelay,
      // No retryStrategy per node: a node whose connection ends must leave the pool, so that the next
      // command goes to a live node, gets MOVED and refreshes the slot map. A node reconnecting forever
      // (hung, then killed after its replica took over) would keep its slots, and every call to them
      // would fail until something else refreshed the map.
      redisOptions: nodeOptions,
      // Learns of failovers even when no MOVED comes back (a master hung but not yet dead).
      slotsRefreshInterval: 2000,
    };
    client = new Cluster(options.clusterNodes.map(hostPort), clusterOptions);
  } else if (options.sentinels !== undefined && options.sentinels.length > 0) {
    if (!options.sentinelName) throw new Error('connectRedis: sentinels need a sentinelName');
    client = new Redis({
      ...common,
      sentinels: options.sentinels.map(hostPort),
      name: options.sentinelName,
      sentinelRetryStrategy: reconnectDelay,
      // Listens for the Sentinels' +switch-master and reconnects at once: otherwise the client keeps
      // writing to the old master until the Sentinel demotes it (its next INFO, up to 10 s later), and
      // those writes are lost.
      failoverDetector: true,
    });
  } else if (options.url !== undefined) {
    client = new Redis(options.url, common);
  } else {
    throw new Error('connectRedis: give a url, clusterNodes, or sentinels with a sentinelName');
  }
  if (options.onError) client.on('error', options.onError);
  return client;
}

function hostPort(node: string): { host: string; port: number } {
  const colon = node.lastIndexOf(':');
  if (colon === -1) return { host: node, port: 6379 };
  return { host: node.slice(0, colon), port: Number(node.slice(colon + 1)) };
}

/** The scripts, as defineCommand makes them: EVALSHA, falling back to EVAL when Redis lacks the script. */
/** What an ending script answers: its count (or flag), and the family ids to log (see REVOKED). */
type Ended = [number, string[]];

interface ScriptCommands {
  wxauthRecordLogin(
    ...keysAndArgs: (string | Buffer)[]
  ): Promise<
    [number, number, string[], number, string | null] | ['banned', string | null, string | null] | ['ended']
  >;
  wxauthLinkIdentity(
    ...keysAndArgs: string[]
  ): Promise<[number, string | null, string | null, string | null]>;
  wxauthMarkLinked(key: string, unionid: string): Promise<number>;
  /** The Buffer variant defineCommand adds: the successor seed comes back as stored bytes. */
  wxauthRestartGrace(family: string, presented: Buffer, rot: string): Promise<number>;
  wxauthRotateRefreshBuffer(...keysAndArgs: (string | Buffer)[]): Promise<(Buffer | Buffer[] | null)[]>;
  wxauthEndFamily(...keysAndArgs: (string | Buffer)[]): Promise<Ended>;
  wxauthEndSession(...keysAndArgs: string[]): Promise<Ended>;
  wxauthEndAllFamilies(...keysAndArgs: string[]): Promise<Ended>;
  wxauthDeleteUser(...keysAndArgs: string[]): Promise<[number, number, string[]]>;
  wxauthBanUser(...keysAndArgs: string[]): Promise<Ended>;
  /** Buffer variant: the device is UTF-8 bytes, returned as stored. */
  wxauthListSessionsBuffer(...keysAndArgs: string[]): Promise<Buffer[][]>;
  wxauthLogRevocations(...keysAndArgs: string[]): Promise<string>;
  wxauthInvalidateAccessToken(key: string, token: string): Promise<number>;
  wxauthReleaseLock(key: string, owner: string): Promise<number>;
  wxauthAcquireLock(key: string, deadline: string, owner: string, ttlMs: string): Promise<number>;
  wxauthClaimLoginCode(key: string, deadline: string, ttlMs: string): Promise<string | null>;
  wxauthReleaseLoginCode(key: string): Promise<number>;
  wxauthTakeAuthorizationRequest(key: string, deadline: string): Promise<string | null>;
  wxauthPutAuthorizationCode(...keysAndArgs: string[]): Promise<number>;
  wxauthRedeemAuthorizationCode(key: string, deadline: string, nowMs: string): Promise<string[]>;
  wxauthRecordCodeSession(key: string, deadline: string, familyId: string): Promise<number>;
}

/**
 * Error replies that mean Redis cannot serve right now rather than a bug in a request: loading its data, a
 * cluster or replica set in failover, a script still running, memory full under noeviction (OOM), writes
 * refused after a failed save (MISCONF), a foreign value under one of our keys (WRONGTYPE, refused by the
 * scripts before they write), or a script that ran after its caller gave up (LATE, see scripts.ts).
 */
const TRANSIENT_REPLY =
  /(^|-)(LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|READONLY|NOREPLICAS|BUSY|OOM|MISCONF|WRONGTYPE|LATE)\b/;
// `(^|-)`: Redis before 7 wraps an error raised inside a script as "ERR Error running script … -OOM …".

/** Rotations remembered across one stall, at most. */
const MAX_UNCERTAIN_ROTATIONS = 10_000;

/** How often the offset between this host's clock and Redis's is measured again, ms. */
const CLOCK_SYNC_INTERVAL_MS = 60_000;
/** A TIME sample that took longer than this says little about the offset, ms. */
const CLOCK_SAMPLE_MAX_RTT_MS = 50;
/**
 * Added to a script's deadline for clock error: the TIME sample's, and the skew between Cluster masters
 * (the offset is measured on one of them). Harmless to the point of the deadline: a rotation that runs
 * this much after its caller's 503 is still found within REFRESH_REUSE_GRACE by the client's retry.
 */
const DEADLINE_SLACK_MS = 1000;

/** This host's time, ms, from a monotonic clock: a step of the wall clock does not move deadlines. */
const localNow = () => performance.timeOrigin + performance.now();

export interface RedisStoreOptions {
  /** Prefix of every key. Default `wxauth:`. */
  prefix?: string;
}

/**
 * SessionStore on Redis (single, Sentinel or Cluster). Each method is one round trip.
 *
 * Two guards for a Redis that stalls (hung, swapping, a long command) rather than disconnects:
 * - every script that writes carries a deadline by Redis's clock (this host's clock plus the measured
 *   offset, plus the command timeout), so what Redis runs after the caller gave up does nothing;
 * - `guard` (shared with the rate limits on the same connection): once a command timed out, commands
 *   fail at once (503) until Redis answers again.
 */
export class RedisStore implements Store.SessionStore {
  private readonly redis: Redis | Cluster;
  private readonly scripts: ScriptCommands;
  private readonly prefix: string;
  private readonly commandTimeoutMs: number;
  /** Redis's clock minus this host's, ms; undefined until measured (scripts then carry no deadline). */
  private clockOffsetMs: number | undefined;
  private readonly clockSync: NodeJS.Timeout;
  /** Whether the connection is stalled; the rate limits on the same connection ask it too. */
  readonly guard: StallGuard;
  /** Rotations whose answer a stall may have lost (see rememberUncertain). */
  private readonly uncertain: Array<{ family: string; presented: Buffer; nowMs: number; sentAt: number }> =
    [];
  private readonly feed: RevocationFeed;
  /** Endings applied here whose log write failed: logged from here later. */
  private readonly unlogged = new UnloggedEndings(
    async (byUser) => {
      await this.writeLog([...byUser.values()].flat());
      await Promise.all([...byUser].map(([openid, ids]) => this.forgetLogged(openid, ids)));
    },
    (openid) => this.call(() => this.redis.zrange(userKeys(this.prefix, openid).revoked, 0, -1)),
  );
  private webLoginStore: RedisWebLoginStore | undefined;

  /** Takes ownership of `redis`: close() closes it. */
  constructor(redis: Redis | Cluster, options: RedisStoreOptions = {}) {
    this.redis = redis;
    this.prefix = options.prefix ?? 'wxauth:';
    this.guard = new StallGuard(redis);
    this.guard.onRecovered(() => void this.restartGraceWindows());
    const clientOptions = redis instanceof Cluster ? redis.options.redisOptions : redis.options;
    this.commandTimeoutMs = clientOptions?.commandTimeout ?? 1000;
    redis.on('ready', () => void this.syncClock());
    if (redis.status === 'ready') void this.syncClock();
    this.clockSync = setInterval(() => void this.syncClock(), CLOCK_SYNC_INTERVAL_MS);
    this.clockSync.unref();
    redis.defineCommand('wxauthRecordLogin', { numberOfKeys: 6, lua: RECORD_LOGIN });
    redis.defineCommand('wxauthRotateRefresh', { numberOfKeys: 4, lua: ROTATE_REFRESH });
    redis.defineCommand('wxauthRestartGrace', { numberOfKeys: 1, lua: RESTART_GRACE });
    redis.defineCommand('wxauthEndFamily', { numberOfKeys: 3, lua: END_FAMILY });
    redis.defineCommand('wxauthEndSession', { numberOfKeys: 3, lua: END_SESSION });
    redis.defineCommand('wxauthEndAllFamilies', { numberOfKeys: 2, lua: END_ALL_FAMILIES });
    redis.defineCommand('wxauthDeleteUser', { numberOfKeys: 3, lua: DELETE_USER });
    redis.defineCommand('wxauthBanUser', { numberOfKeys: 3, lua: BAN_USER });
    redis.defineCommand('wxauthListSessions', { numberOfKeys: 1, lua: LIST_SESSIONS });
    redis.defineCommand('wxauthLinkIdentity', { numberOfKeys: 2, lua: LINK_IDENTITY });
    redis.defineCommand('wxauthMarkLinked', { numberOfKeys: 1, lua: MARK_LINKED });
    redis.defineCommand('wxauthLogRevocations', { numberOfKeys: 1, lua: LOG_REVOCATIONS });
    redis.defineCommand('wxauthInvalidateAccessToken', { numberOfKeys: 1, lua: INVALIDATE_ACCESS_TOKEN });
    redis.defineCommand('wxauthReleaseLock', { numberOfKeys: 1, lua: RELEASE_LOCK });
    redis.defineCommand('wxauthAcquireLock', { numberOfKeys: 1, lua: ACQUIRE_LOCK });
    redis.defineCommand('wxauthClaimLoginCode', { numberOfKeys: 1, lua: CLAIM_LOGIN_CODE });
    redis.defineCommand('wxauthReleaseLoginCode', { numberOfKeys: 1, lua: RELEASE_LOGIN_CODE });
    redis.defineCommand('wxauthTakeAuthorizationRequest', {
      numberOfKeys: 1,
      lua: TAKE_AUTHORIZATION_REQUEST,
    });
    redis.defineCommand('wxauthPutAuthorizationCode', { numberOfKeys: 1, lua: PUT_AUTHORIZATION_CODE });
    redis.defineCommand('wxauthRedeemAuthorizationCode', {
      numberOfKeys: 1,
      lua: REDEEM_AUTHORIZATION_CODE,
    });
    redis.defineCommand('wxauthRecordCodeSession', { numberOfKeys: 1, lua: RECORD_CODE_SESSION });
    this.scripts = redis as unknown as ScriptCommands;
    const log = appKeys(this.prefix).revocationLog;
    this.feed = new RevocationFeed(
      redis,
      appKeys(this.prefix).revocationChannel,
      async (min, max, offset, count) => {
        const flat = await this.call(() =>
          this.redis.zrangebyscore(log, min, max, 'WITHSCORES', 'LIMIT', offset, count),
        );
        const rows: Array<{ id: string; atMs: number }> = [];
        for (let i = 0; i + 1 < flat.length; i += 2) rows.push({ id: flat[i]!, atMs: Number(flat[i + 1]) });
        return rows;
      },
    );
  }

  async recordLogin(login: Store.LoginWrite): Promise<Store.LoginOutcome> {
    const tokenHash = tokenDigest(login.tokenHash);
    const keys = userKeys(this.prefix, login.openid);
    const now = Math.floor(login.nowMs);
    const abs = login.absoluteTtlS === undefined ? undefined : now + Math.round(login.absoluteTtlS * 1000);
    const exp = Math.min(now + Math.round(login.refreshTtlS * 1000), abs ?? Number.POSITIVE_INFINITY);
    const reply = await this.call(() =>
      this.scripts.wxauthRecordLogin(
        keys.user,
        keys.sessions,
        keys.family(login.familyId),
        keys.revoked,
        keys.ban,
        keys.family(login.whileLive ?? login.familyId),
        this.deadline(),
        String(now),
        login.sessionKey === undefined ? '' : encodeSessionKey(login.sessionKey),
        login.unionid ?? '',
        login.familyId,
        tokenHash,
        String(exp),
        abs === undefined ? '' : String(abs),
        keys.family(''),
        String(login.maxSessions),
        encodeDevice(login.device),
        login.whileLive === undefined ? '' : '1',
        login.appid ?? '',
        login.keyless ? '1' : '',
        ...this.revocationArgs(),
      ),
    );
    if (reply[0] === 'banned') return { banned: banOf(reply[1], reply[2]) };
    if (reply[0] === 'ended') return { ended: true };
    const [isNew, ended, logged, unlinked, unionid] = reply;
    // The login stands: a session the cap ended was told to every instance already.
    await this.logEnded(login.openid, logged).catch(() => undefined);
    return {
      isNewUser: isNew === 1,
      sessionsEnded: ended,
      unlinked: unlinked === 1,
      ...(unionid == null ? {} : { unionid }),
    };
  }

  async getUser(openid: string): Promise<Store.UserRecord | null> {
    const [sk, uid, fl, ll, app] = await this.call(() =>
      this.redis.hmgetBuffer(userKeys(this.prefix, openid).user, 'k', 'u', 'f', 'l', 'a'),
    );
    if (sk == null || fl == null || ll == null) return null;
    const user: Store.UserRecord = {
      sessionKey: decodeSessionKey(sk),
      firstLoginAtMs: Number(fl.toString()),
      lastLoginAtMs: Number(ll.toString()),
    };
    if (uid != null) user.unionid = uid.toString('utf8');
    if (app != null) user.appid = app.toString('utf8');
    return user;
  }

  async getAccount(openid: string): Promise<Store.AccountRecord | null> {
    const [uid, fl, ll, app] = await this.call(() =>
      this.redis.hmget(userKeys(this.prefix, openid).user, 'u', 'f', 'l', 'a'),
    );
    if (fl == null || ll == null) return null;
    return {
      firstLoginAtMs: Number(fl),
      lastLoginAtMs: Number(ll),
      ...(uid == null ? {} : { unionid: uid }),
      ...(app == null ? {} : { appid: app }),
    };
  }

  async rotateRefresh(rotation: Store.RotateRequest): Promise<Store.RotateOutcome> {
    const presented = tokenDigest(rotation.presentedHash);
    const next = tokenDigest(rotation.nextHash);
    const keys = userKeys(this.prefix, rotation.openid);
    const sentAt = performance.now();
    const reply = await this.call(() =>
      this.scripts.wxauthRotateRefreshBuffer(
        keys.family(rotation.familyId),
        keys.sessions,
        keys.user,
        keys.revoked,
        this.deadline(),
        String(Math.floor(rotation.nowMs)),
        presented,
        next,
        storedSeed(rotation.successorSeed),
        String(Math.round(rotation.refreshTtlS * 1000)),
        String(Math.round(rotation.graceS * 1000)),
        rotation.familyId,
        ...this.revocationArgs(),
      ),
    ).catch((error: unknown) => {
      if (error instanceof TemporarilyUnavailable && this.guard.stalled)
        this.rememberUncertain(rotation, sentAt);
      throw error;
    });
    switch (reply[0]?.toString()) {
      case 'rotated':
        return {
          kind: 'rotated',
          expiresAtMs: Number(reply[1]),
          ...rotatedIdentity(reply[2], reply[3], reply[4]),
        };
      case 'grace':
        return {
          kind: 'grace',
          successorSeed: seedOf(reply[1] as Buffer),
          expiresAtMs: Number(reply[2]),
          ...rotatedIdentity(reply[3], reply[4], reply[5]),
        };
      case 'reused':
        await this.logEnded(rotation.openid, ((reply[1] ?? []) as Buffer[]).map(String)).catch(
          () => undefined,
        );
        return { kind: 'reused' };
      case 'invalid':
        return { kind: 'invalid' };
      default:
        throw new Error(`rotateRefresh script answered ${JSON.stringify(reply.map(String))}`);
    }
  }

  async endFamily(openid: string, familyId: string, tokenHash: Buffer): Promise<boolean> {
    const hash = tokenDigest(tokenHash);
    const keys = userKeys(this.prefix, openid);
    const [ended, logged] = await this.ending(openid, () =>
      this.scripts.wxauthEndFamily(
        keys.family(familyId),
        keys.sessions,
        keys.revoked,
        this.deadline(),
        hash,
        familyId,
        ...this.revocationArgs(),
      ),
    );
    await this.logEnded(openid, logged);
    return ended === 1;
  }

  async endSession(openid: string, familyId: string, nowMs: number): Promise<boolean> {
    const keys = userKeys(this.prefix, openid);
    const [ended, logged] = await this.ending(openid, () =>
      this.scripts.wxauthEndSession(
        keys.family(familyId),
        keys.sessions,
        keys.revoked,
        this.deadline(),
        familyId,
        String(Math.floor(nowMs)),
        ...this.revocationArgs(),
      ),
    );
    await this.logEnded(openid, logged);
    return ended === 1;
  }

  async endAllFamilies(openid: string): Promise<number> {
    const [ended, logged] = await this.ending(openid, () =>
      this.scripts.wxauthEndAllFamilies(...this.endAll(openid)),
    );
    await this.logEnded(openid, logged);
    return ended;
  }

  async listSessions(openid: string, nowMs: number): Promise<Store.SessionInfo[]> {
    const keys = userKeys(this.prefix, openid);
    const rows = await this.call(() =>
      this.scripts.wxauthListSessionsBuffer(keys.sessions, keys.family(''), String(Math.floor(nowMs))),
    );
    const sessions = rows.map(([id, exp, rot, crt, device]): Store.SessionInfo => {
      const known = (ms: Buffer | undefined) => (ms === undefined || Number(ms) < 0 ? undefined : Number(ms));
      return {
        id: String(id),
        createdAtMs: known(crt),
        refreshedAtMs: known(rot),
        expiresAtMs: Number(exp),
        device: device === undefined || device.length === 0 ? undefined : device.toString('utf8'),
      };
    });
    return sessions.sort(newestFirst);
  }

  async deleteUser(openid: string): Promise<{ existed: boolean; sessionsEnded: number }> {
    const keys = userKeys(this.prefix, openid);
    const [existed, ended, logged] = await this.ending(openid, () =>
      this.scripts.wxauthDeleteUser(keys.user, ...this.endAll(openid)),
    );
    // Once logged, the user's revoked set (the last key but the ban) is emptied; until then, a retry
    // finds it and logs again.
    await this.logEnded(openid, logged);
    return { existed: existed === 1, sessionsEnded: ended };
  }

  async banUser(openid: string, ban: Store.Ban, nowMs: number): Promise<number> {
    const keys = userKeys(this.prefix, openid);
    const [ended, logged] = await this.ending(openid, () =>
      this.scripts.wxauthBanUser(
        keys.ban,
        keys.sessions,
        keys.revoked,
        this.deadline(),
        String(Math.floor(nowMs)),
        ban.reason ?? '',
        ban.untilMs === undefined ? '' : String(Math.floor(ban.untilMs)),
        keys.family(''),
        ban.unionid ?? '',
        ...this.revocationArgs(),
      ),
    );
    await this.logEnded(openid, logged);
    return ended;
  }

  getBan(openid: string, nowMs: number): Promise<Store.Ban | null> {
    return this.banIn(userKeys(this.prefix, openid).ban, nowMs);
  }

  /** A ban hash (an identity's or a person's, the same fields), or null when none is in force. */
  private async banIn(key: string, nowMs: number): Promise<Store.Ban | null> {
    const [setAt, reason, until, unionid] = await this.call(() => this.redis.hmget(key, 't', 'r', 'u', 'p'));
    if (setAt == null) return null;
    const ban = banOf(reason, until);
    if (unionid != null) ban.unionid = unionid;
    return ban.untilMs !== undefined && ban.untilMs <= nowMs ? null : ban;
  }

  async liftBan(openid: string): Promise<boolean> {
    return (await this.call(() => this.redis.del(userKeys(this.prefix, openid).ban))) === 1;
  }

  async linkIdentity(
    unionid: string,
    identity: Store.Identity,
    nowMs: number,
  ): Promise<{ ban: Store.Ban | null }> {
    const keys = personKeys(this.prefix, unionid);
    const [, reason, until, setAt] = await this.call(() =>
      this.scripts.wxauthLinkIdentity(
        keys.identities,
        keys.ban,
        this.deadline(),
        identity.openid,
        identity.appid ?? '',
        String(Math.floor(nowMs)),
      ),
    );
    return { ban: setAt == null ? null : banOf(reason, until) };
  }

  async markLinked(openid: string, unionid: string): Promise<void> {
    await this.call(() => this.scripts.wxauthMarkLinked(userKeys(this.prefix, openid).user, unionid));
  }

  async personIdentities(unionid: string): Promise<Store.Identity[]> {
    const all = await this.call(() => this.redis.hgetall(personKeys(this.prefix, unionid).identities));
    return Object.entries(all).map(([openid, appid]) => ({
      openid,
      appid: appid === '' ? undefined : appid,
    }));
  }

  async banPerson(unionid: string, ban: Store.Ban, nowMs: number): Promise<void> {
    const key = personKeys(this.prefix, unionid).ban;
    const fields = ['t', String(Math.floor(nowMs))];
    if (ban.reason !== undefined) fields.push('r', ban.reason);
    if (ban.untilMs !== undefined) fields.push('u', String(Math.floor(ban.untilMs)));
    const multi = this.redis
      .multi()
      .del(key)
      .hset(key, ...fields);
    if (ban.untilMs !== undefined) multi.pexpire(key, Math.max(Math.floor(ban.untilMs - nowMs), 1));
    await this.call(() => multi.exec());
  }

  getPersonBan(unionid: string, nowMs: number): Promise<Store.Ban | null> {
    return this.banIn(personKeys(this.prefix, unionid).ban, nowMs);
  }

  async liftPersonBan(unionid: string): Promise<boolean> {
    return (await this.call(() => this.redis.del(personKeys(this.prefix, unionid).ban))) === 1;
  }

  async forgetPerson(unionid: string): Promise<void> {
    await this.call(() => this.redis.del(personKeys(this.prefix, unionid).identities));
  }

  async *unlinkedIdentities(): AsyncIterable<Array<Store.Identity & { unionid: string }>> {
    const nodes = this.redis instanceof Cluster ? this.redis.nodes('master') : [this.redis];
    // `{…}:u` of our prefix: user records (persons' keys are `{u:…}:p`/`:b`, never `:u`).
    const match = `${escapeGlob(this.prefix)}{*}:u`;
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await this.call(() => node.scan(cursor, 'MATCH', match, 'COUNT', 500));
        cursor = next;
        const records = keys.filter((key) => !key.startsWith(`${this.prefix}{u:`));
        if (records.length === 0) continue;
        const fields = await Promise.all(
          records.map((key) => this.call(() => this.redis.hmget(key, 'u', 'x', 'a'))),
        );
        const page: Array<Store.Identity & { unionid: string }> = [];
        records.forEach((key, i) => {
          const [unionid, linked, appid] = fields[i]!;
          if (unionid == null || unionid === '' || linked === unionid) return;
          const openid = key.slice(this.prefix.length + 1, -'}:u'.length);
          page.push({ openid, unionid, appid: appid ?? undefined });
        });
        if (page.length > 0) yield page;
      } while (cursor !== '0');
    }
  }

  watchRevocations(watcher: Store.RevocationWatcher, options: { windowMs: number }): void {
    this.feed.watch(watcher, options.windowMs);
  }

  async getWechatAccessToken(nowMs: number, appid?: string): Promise<Store.CachedAccessToken | null> {
    const value = await this.call(() => this.redis.get(appKeys(this.prefix).wechatAccessToken(appid)));
    if (value == null) return null;
    const colon = value.indexOf(':');
    const expiresAtMs = Number(value.slice(0, colon));
    if (colon < 1 || !Number.isFinite(expiresAtMs) || expiresAtMs <= nowMs) return null;
    return { token: value.slice(colon + 1), expiresAtMs };
  }

  async putWechatAccessToken(
    token: string,
    expiresAtMs: number,
    nowMs: number,
    appid?: string,
  ): Promise<void> {
    const exp = Math.floor(expiresAtMs);
    const ttl = Math.max(exp - Math.floor(nowMs), 1);
    await this.call(() =>
      this.redis.set(appKeys(this.prefix).wechatAccessToken(appid), `${exp}:${token}`, 'PX', ttl),
    );
  }

  async invalidateWechatAccessToken(token: string, appid?: string): Promise<boolean> {
    const key = appKeys(this.prefix).wechatAccessToken(appid);
    return (await this.call(() => this.scripts.wxauthInvalidateAccessToken(key, token))) === 1;
  }

  async acquireLock(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const key = appKeys(this.prefix).lock(name);
    const ttl = String(Math.max(Math.round(ttlMs), 1));
    return (await this.call(() => this.scripts.wxauthAcquireLock(key, this.deadline(), owner, ttl))) === 1;
  }

  async releaseLock(name: string, owner: string): Promise<boolean> {
    const key = appKeys(this.prefix).lock(name);
    return (await this.call(() => this.scripts.wxauthReleaseLock(key, owner))) === 1;
  }

  async claimLoginCode(codeHash: string, ttlMs: number): Promise<Store.LoginCodeClaim> {
    const key = appKeys(this.prefix).loginCode(codeHash);
    const known = await this.call(() =>
      this.scripts.wxauthClaimLoginCode(key, this.deadline(), String(Math.max(Math.round(ttlMs), 1))),
    );
    if (known === null) return { state: 'claimed' };
    return known === '' ? { state: 'pending' } : { state: 'done', sealedResult: known };
  }

  async completeLoginCode(codeHash: string, sealedResult: string): Promise<void> {
    await this.call(() =>
      this.redis.set(appKeys(this.prefix).loginCode(codeHash), sealedResult, 'KEEPTTL', 'XX'),
    );
  }

  async releaseLoginCode(codeHash: string): Promise<void> {
    await this.call(() => this.scripts.wxauthReleaseLoginCode(appKeys(this.prefix).loginCode(codeHash)));
  }

  async putAuthorizationRequest(
    stateHash: string,
    request: Store.AuthorizationRequest,
    ttlMs: number,
  ): Promise<void> {
    const key = appKeys(this.prefix).authorizationRequest(stateHash);
    const ttl = Math.max(Math.round(ttlMs), 1);
    await this.call(() => this.redis.set(key, JSON.stringify(request), 'PX', ttl));
  }

  async takeAuthorizationRequest(stateHash: string): Promise<Store.AuthorizationRequest | null> {
    const key = appKeys(this.prefix).authorizationRequest(stateHash);
    const kept = await this.call(() => this.scripts.wxauthTakeAuthorizationRequest(key, this.deadline()));
    return kept === null ? null : (JSON.parse(kept) as Store.AuthorizationRequest);
  }

  async putAuthorizationCode(
    codeHash: string,
    grant: Store.AuthorizationGrant,
    keepMs: number,
  ): Promise<void> {
    const key = appKeys(this.prefix).authorizationCode(codeHash);
    await this.call(() =>
      this.scripts.wxauthPutAuthorizationCode(
        key,
        this.deadline(),
        JSON.stringify(grant),
        String(Math.floor(grant.expiresAtMs)),
        grant.openid,
        String(Math.max(Math.round(keepMs), 1)),
      ),
    );
  }

  async redeemAuthorizationCode(codeHash: string, nowMs: number): Promise<Store.CodeRedemption> {
    const key = appKeys(this.prefix).authorizationCode(codeHash);
    const [kind, first, second] = await this.call(() =>
      this.scripts.wxauthRedeemAuthorizationCode(key, this.deadline(), String(Math.floor(nowMs))),
    );
    if (kind === 'fresh') return { kind, grant: JSON.parse(first ?? '') as Store.AuthorizationGrant };
    if (kind === 'replayed') return { kind, openid: first ?? '', ...(second ? { familyId: second } : {}) };
    return { kind: kind === 'expired' ? 'expired' : 'unknown' };
  }

  async recordCodeSession(codeHash: string, _openid: string, familyId: string): Promise<boolean> {
    const key = appKeys(this.prefix).authorizationCode(codeHash);
    return (
      (await this.call(() => this.scripts.wxauthRecordCodeSession(key, this.deadline(), familyId))) === 1
    );
  }

  /**
   * A write, not a PING: a Redis that answers but refuses writes (memory full under noeviction, a failed
   * save, a replica) cannot serve logins either.
   */
  async ping(): Promise<void> {
    await this.call(() => this.redis.set(appKeys(this.prefix).probe, '1', 'PX', 10_000));
  }

  /** Web login tickets, on this store's connection, guards and deadlines (web-login.ts). */
  webLogins(): WebLoginStore {
    this.webLoginStore ??= new RedisWebLoginStore(this.redis, {
      prefix: this.prefix,
      call: (command) => this.call(command),
      deadline: () => this.deadline(),
    });
    return this.webLoginStore;
  }

  async close(): Promise<void> {
    // Before the connection goes: endings not yet logged get one last try.
    await this.unlogged.close();
    this.feed.close();
    this.webLoginStore?.close();
    clearInterval(this.clockSync);
    this.guard.close();
    try {
      await this.redis.quit();
    } catch {
      // not connected: nothing to say goodbye to
    }
    // Also after a QUIT: only disconnect() ends the Sentinel failover detector's own connections.
    this.redis.disconnect();
  }

  /**
   * A rotation whose caller got 503 in a stall may still have run (before the stall, its answer held
   * back by it). Once Redis answers again, its time moves to then (RESTART_GRACE), so the client's retry
   * with the old token is a retry within the grace window, not a reuse. Bounded: the oldest are dropped.
   */
  private rememberUncertain(rotation: Store.RotateRequest, sentAt: number): void {
    if (this.uncertain.length >= MAX_UNCERTAIN_ROTATIONS) this.uncertain.shift();
    this.uncertain.push({
      family: userKeys(this.prefix, rotation.openid).family(rotation.familyId),
      presented: rotation.presentedHash,
      nowMs: rotation.nowMs,
      sentAt,
    });
  }

  private async restartGraceWindows(): Promise<void> {
    const pending = this.uncertain.splice(0);
    const at = performance.now();
    for (const entry of pending) {
      // The caller's clock at this moment: its time at the send, plus the real time since.
      const rot = String(Math.floor(entry.nowMs + (at - entry.sentAt)));
      await this.scripts.wxauthRestartGrace(entry.family, entry.presented, rot).catch(() => undefined);
    }
  }

  /**
   * Runs one command, turning "Redis cannot serve" into TemporarilyUnavailable; other errors are bugs.
   * Either way the error that leaves carries no command arguments: ioredis puts them on its errors
   * (`command.args`: session_keys, token digests, seeds), and error objects end up in logs.
   */
  private async call<T>(command: () => Promise<T>): Promise<T> {
    if (this.guard.stalled) {
      throw new TemporarilyUnavailable('The session store does not answer; retry shortly.', {
        cause: new Error('stalled: an earlier command timed out and Redis has not answered since'),
      });
    }
    try {
      return await command();
    } catch (error) {
      this.guard.noteError(error);
      const cause = withoutArguments(error);
      if (isOutage(error)) {
        throw new TemporarilyUnavailable('The session store is unreachable; retry shortly.', { cause });
      }
      throw cause;
    }
  }

  /**
   * An ending script's last arguments: now by this host's clock (what the user's recently ended families
   * are timed by: real time, whatever clock the caller's domain time comes from), how long they are kept,
   * and the channel.
   */
  private revocationArgs(): [string, string, string] {
    return [String(Date.now()), String(this.feed.retentionMs), appKeys(this.prefix).revocationChannel];
  }

  /**
   * Ending every family of the user, as END_ALL_FAMILIES takes it and DELETE_USER after the user record:
   * KEYS sessions and revoked, then ARGV deadline, family key prefix and the revocation arguments.
   */
  private endAll(openid: string): string[] {
    const keys = userKeys(this.prefix, openid);
    return [keys.sessions, keys.revoked, this.deadline(), keys.family(''), ...this.revocationArgs()];
  }

  /**
   * What an ending script answered it ended, or ended before without logging it (see REVOKED): to this
   * process's watchers at once, then to the revocation log for instances that missed the ending script's
   * message; once logged, out of the user's revoked set. When the log write fails, the caller gets its
   * error, and the ids are logged from here later all the same (UnloggedEndings).
   */
  /**
   * An ending script. When its answer does not come (a timeout, a connection lost), it may still have
   * run: Redis runs it late within its deadline, or its reply was lost. Its client gets 503 and may
   * never retry (its token may be refused already), so what waits on the user's keys is looked at and
   * logged from here later.
   */
  private async ending<T>(openid: string, script: () => Promise<T>): Promise<T> {
    const sent = !this.guard.stalled;
    try {
      return await this.call(script);
    } catch (error) {
      if (sent && error instanceof TemporarilyUnavailable) this.unlogged.check(openid);
      throw error;
    }
  }

  private async logEnded(openid: string, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    this.feed.notify(ids);
    try {
      await this.writeLog(ids);
    } catch (error) {
      this.unlogged.add(openid, ids);
      throw error;
    }
    this.unlogged.logged(ids);
    await this.forgetLogged(openid, ids);
  }

  private async writeLog(ids: string[]): Promise<void> {
    const { revocationLog, revocationChannel } = appKeys(this.prefix);
    await this.call(() =>
      this.scripts.wxauthLogRevocations(
        revocationLog,
        String(this.feed.retentionMs),
        revocationChannel,
        ...ids,
      ),
    );
  }

  /**
   * Logged ids leave the user's revoked set, so that no later ending logs them again. When that fails, one
   * does: harmless, so the failure is not the caller's.
   */
  private async forgetLogged(openid: string, ids: string[]): Promise<void> {
    const revoked = userKeys(this.prefix, openid).revoked;
    await this.call(() => this.redis.zrem(revoked, ...ids)).catch(() => undefined);
  }

  /** The deadline a script carries, by Redis's clock: '0' (none) until the offset is known. */
  private deadline(): string {
    if (this.clockOffsetMs === undefined) return '0';
    return String(Math.ceil(localNow() + this.clockOffsetMs + this.commandTimeoutMs + DEADLINE_SLACK_MS));
  }

  /** Measures Redis's clock against this host's from a quick TIME; a slow sample is dropped. */
  private async syncClock(): Promise<void> {
    try {
      const sent = localNow();
      const [seconds, micros] = await this.redis.time();
      const received = localNow();
      if (received - sent > CLOCK_SAMPLE_MAX_RTT_MS) return;
      const redisMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
      this.clockOffsetMs = redisMs - (sent + received) / 2;
    } catch {
      // not connected or stalled: the next sample will do
    }
  }
}

/** A copy of an ioredis error with its name and message only (no `command`, whose args are secrets). */
function withoutArguments(error: unknown): Error {
  if (!(error instanceof Error)) return new Error(String(error));
  if (!('command' in error) && !('args' in error)) return error;
  const copy = new Error(error.message);
  copy.name = error.name;
  return copy;
}

/**
 * Anything ioredis raises other than an error reply (or a programming error) is about the connection:
 * closed, not writable, timed out, retries exhausted, cluster unreachable. Of the error replies, a few
 * are transient too; the rest (a script error, WRONGTYPE) are bugs and pass unchanged.
 */
function isOutage(error: unknown): boolean {
  if (!(error instanceof Error) || error instanceof TypeError || error instanceof RangeError) return false;
  if (error.name === 'ReplyError') return TRANSIENT_REPLY.test(error.message);
  return true;
}

/** A key prefix as a literal in a SCAN pattern. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** The rotation script's unionid|false, appid|false and unlinked (0/1), as RotatedIdentity. */
function rotatedIdentity(
  unionid: Buffer | Buffer[] | null | undefined,
  appid: Buffer | Buffer[] | null | undefined,
  unlinked: unknown,
): Store.RotatedIdentity {
  return {
    ...(unionid == null ? {} : { unionid: unionid.toString() }),
    ...(appid == null ? {} : { appid: appid.toString() }),
    ...(Number(unlinked) === 1 ? { unlinked: true } : {}),
  };
}

/**
 * A token hash as a family keeps it: the 32-byte digest itself, which the scripts read at fixed offsets
 * (FAMILY in scripts.ts), so any other length would garble the family. It is the caller's bug: a
 * RangeError, which call() never takes for an outage.
 */
function tokenDigest(hash: Buffer): Buffer {
  if (hash.length !== 32)
    throw new RangeError(`a token hash is a 32-byte SHA-256 digest, not ${hash.length} bytes`);
  return hash;
}

function banOf(reason: string | null | undefined, until: string | null | undefined): Store.Ban {
  return {
    ...(reason == null || reason === '' ? {} : { reason }),
    ...(until == null ? {} : { untilMs: Number(until) }),
  };
}

/** Newest login first; families older than their creation time (layout 0) last. */
export function newestFirst(a: Store.SessionInfo, b: Store.SessionInfo): number {
  return (
    (b.createdAtMs ?? Number.NEGATIVE_INFINITY) - (a.createdAtMs ?? Number.NEGATIVE_INFINITY) ||
    b.expiresAtMs - a.expiresAtMs
  );
}
