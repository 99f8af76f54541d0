import type { Clock } from '../lib/index.js';
import {
  derivedOpenid,
  newAccessToken,
  newCode,
  newOpenid,
  newPhoneNumber,
  newRefreshToken,
  newSessionKey,
  newUnionid,
} from './ids.js';
import {
  ControlError,
  expectObject,
  ID_PATTERN,
  ID_SHAPE,
  invalid,
  onlyKeys,
  optionalString,
} from './input.js';
import type { CreateUserOptions, DrawnWxacode, EmulatedApp, EmulatedUser } from './types.js';
import { WECHAT_ERRORS, type WechatFailure } from './wechat-errors.js';

/** A person as one app knows them: that app's openid and session_key. */
export interface UserRecord {
  appid: string;
  openid: string;
  unionid?: string;
  phoneNumber: string;
  countryCode: string;
  /** Mini-programs use it; the other kinds have none at WeChat, and theirs is never handed out. */
  sessionKey: string;
  person: PersonRecord;
}

/** One person of the open-platform account. */
export interface PersonRecord {
  /** By appid, in the order of the apps. */
  byApp: Map<string, UserRecord>;
}

export interface StateConfig {
  clock: Clock;
  /** At least one; the first is the default of every control operation. */
  apps: readonly EmulatedApp[];
  codeTtlMs: number;
  accessTokenTtlS: number;
  /** The published mini-programs' pages (wxacode's check_path). */
  pages: readonly string[];
}

/** The scopes a /sns/oauth2/access_token code carries. */
export type OauthScope = 'snsapi_base' | 'snsapi_userinfo' | 'snsapi_login';

interface CodeRecord {
  appid: string;
  openid: string;
  /** Set for the codes of /sns/oauth2/access_token; absent for wx.login()'s and the phone's. */
  scope?: OauthScope;
  /**
   * A code given on a Moments (朋友圈) snapshot page: `openid` (and `unionid`) are a virtual account's,
   * no person's, and the exchange says is_snapshotuser 1.
   */
  snapshot?: { unionid?: string };
  issuedAtMs: number;
  used: boolean;
}

interface TokenRecord {
  expiresAtMs: number;
  /** From this time on the token answers 40001 (superseded or invalidated). */
  retiredAtMs?: number;
}

/** A web-authorization access token (/sns/oauth2/access_token), which only /sns/userinfo takes. */
export interface SnsTokenRecord {
  appid: string;
  openid: string;
  scope: OauthScope;
  /** The token of a snapshot page's virtual account (is_snapshotuser 1). */
  snapshot: boolean;
  expiresAtMs: number;
}

/** Who an OAuth code was for, as /sns/oauth2/access_token tells it. */
export interface OauthGrant {
  appid: string;
  openid: string;
  unionid?: string;
  scope: OauthScope;
  snapshot: boolean;
}

export interface IssuedAccessToken {
  access_token: string;
  expires_in: number;
}

/** An app with the credentials WeChat issued it (cgi-bin access tokens). */
export class AppState {
  readonly tokens = new Map<string, TokenRecord>();
  // stable_token and the legacy token are separate credentials at WeChat, each with its own latest.
  latestStable: string | undefined;
  latestLegacy: string | undefined;

  constructor(readonly app: EmulatedApp) {}

  get appid(): string {
    return this.app.appid;
  }

  get kind(): EmulatedApp['kind'] {
    return this.app.kind;
  }

  reset(): void {
    this.tokens.clear();
    this.latestStable = undefined;
    this.latestLegacy = undefined;
  }
}

/**
 * WeChat's documented overlap: a legacy token replaced by a new one keeps working 5 minutes, and a
 * stable token is replaced in its last 5 minutes, so servers sharing a token can switch over.
 */
const TOKEN_OVERLAP_MS = 5 * 60_000;
/** Expired tokens are kept this long so that they answer 42001 rather than 40014. */
const EXPIRED_TOKEN_MEMORY_MS = 24 * 3_600_000;
/** Mini-program codes remembered for the phone to scan. */
const DRAWN_WXACODES = 50;

/** The apps, the people, their codes and the apps' access tokens: everything WeChat would remember. */
export class EmulatorState {
  private readonly appStates: Map<string, AppState>;
  /** Every app's openids, each naming one person in one app. */
  private readonly identities = new Map<string, UserRecord>();
  /** wx.login()'s and the OAuth codes, in issue order; a code belongs to one app and one exchange. */
  private readonly loginCodes = new Map<string, CodeRecord>();
  private readonly phoneCodes = new Map<string, CodeRecord>();
  private readonly snsTokens = new Map<string, SnsTokenRecord>();
  /** Newest first. */
  private drawn: DrawnWxacode[] = [];

  constructor(readonly config: StateConfig) {
    this.appStates = new Map(config.apps.map((app) => [app.appid, new AppState(app)]));
  }

  now(): number {
    return this.config.clock.now();
  }

  get firstApp(): AppState {
    return this.appStates.get(this.config.apps[0]!.appid)!;
  }

  findApp(appid: string | null | undefined): AppState | undefined {
    return appid ? this.appStates.get(appid) : undefined;
  }

  /** The app a control operation names (default the first), or a 400/404 for the control surface. */
  app(appid: unknown): AppState {
    if (appid === undefined) return this.firstApp;
    if (typeof appid !== 'string') throw invalid('appid must be a string.');
    const app = this.appStates.get(appid);
    if (!app) {
      const known = this.config.apps.map((each) => each.appid).join(', ');
      throw new ControlError(404, 'not_found', `No emulated app has appid ${appid}; there are ${known}.`);
    }
    return app;
  }

  /** The app, refused unless it is a mini-program: session_keys, phone codes and open data are theirs. */
  miniProgram(appid: unknown, what: string): AppState {
    const app = this.app(appid);
    if (app.kind !== 'miniprogram') {
      throw invalid(`${what}: ${app.appid} is a ${app.kind} app; only mini-programs have them.`);
    }
    return app;
  }

  createUser(opts: CreateUserOptions = {}): EmulatedUser {
    return publicUser(this.createPerson(opts));
  }

  /** The person in the app `opts.appid` names (default the first). */
  private createPerson(opts: CreateUserOptions): UserRecord {
    const input = expectObject(opts, 'The user');
    onlyKeys(input, ['openid', 'appid', 'unionid', 'phoneNumber', 'countryCode'], 'The user');
    const named = this.app(input.appid);
    const openid = optionalString(input.openid, 'openid', ID_PATTERN, ID_SHAPE) ?? newOpenid();
    const unionid =
      typeof input.unionid === 'boolean'
        ? input.unionid
          ? newUnionid()
          : undefined
        : optionalString(input.unionid, 'unionid', ID_PATTERN, `true, false or ${ID_SHAPE}`);
    const phoneNumber =
      optionalString(
        input.phoneNumber,
        'phoneNumber',
        /^\d{4,20}$/,
        '4 to 20 digits, without country code',
      ) ?? newPhoneNumber();
    const countryCode =
      optionalString(input.countryCode, 'countryCode', /^\d{1,4}$/, '1 to 4 digits') ?? '86';

    const person: PersonRecord = { byApp: new Map() };
    for (const { appid } of this.config.apps) {
      const own = appid === named.appid ? openid : derivedOpenid(appid, named.appid, openid);
      if (this.identities.has(own)) {
        throw new ControlError(409, 'conflict', `A user with openid ${own} exists already.`);
      }
      const user: UserRecord = {
        appid,
        openid: own,
        phoneNumber,
        countryCode,
        sessionKey: newSessionKey(),
        person,
      };
      if (unionid !== undefined) user.unionid = unionid;
      person.byApp.set(appid, user);
    }
    for (const user of person.byApp.values()) this.identities.set(user.openid, user);
    return person.byApp.get(named.appid)!;
  }

  /** The person of this openid (in any app), as `appid` knows them; undefined when unknown. */
  findUser(openid: string, appid: string): UserRecord | undefined {
    return this.identities.get(openid)?.person.byApp.get(appid);
  }

  /** The person of this openid (in any app) as the app knows them, or a 404 for the control surface. */
  user(openid: string, app: AppState = this.firstApp): UserRecord {
    const user = this.findUser(openid, app.appid);
    if (!user) throw new ControlError(404, 'not_found', `No emulated user has openid ${openid}.`);
    return user;
  }

  /**
   * Logging in on the app: for a mini-program wx.login() (a new session_key unless kept, and a code for
   * jscode2session), for the others a code for /sns/oauth2/access_token with the scope of their kind.
   */
  login(
    openid: string | undefined,
    app: AppState,
    options: { rotateSessionKey: boolean; scope: OauthScope | undefined },
  ): { code: string; openid: string } {
    const known = openid === undefined ? undefined : this.findUser(openid, app.appid);
    let user: UserRecord;
    if (known) {
      user = known;
      if (options.rotateSessionKey && app.kind === 'miniprogram') user.sessionKey = newSessionKey();
    } else {
      user = this.createPerson({ ...(openid === undefined ? {} : { openid }), appid: app.appid });
    }
    const scope = app.kind === 'miniprogram' ? undefined : (options.scope ?? defaultScope(app.kind));
    const code = this.issueCode(this.loginCodes, user, scope);
    return { code, openid: user.openid };
  }

  phoneCode(openid: string, app: AppState): string {
    return this.issueCode(this.phoneCodes, this.user(openid, app), undefined);
  }

  /**
   * jscode2session's core: the session_key current now, not the one current when the code was issued.
   * Another app's code, or an OAuth code, is as unknown as a made-up one (40029) and stays usable.
   */
  exchangeLoginCode(code: string, app: AppState): UserRecord | WechatFailure {
    const record = this.liveCode(this.loginCodes, code);
    if (!record || record.appid !== app.appid || record.scope !== undefined) return WECHAT_ERRORS.invalidCode;
    if (record.used) return WECHAT_ERRORS.codeUsed;
    record.used = true;
    return this.user(record.openid, app);
  }

  /** /sns/oauth2/access_token's core: the code of a login on that app, other than a mini-program's. */
  exchangeOauthCode(code: string, app: AppState): OauthGrant | WechatFailure {
    const record = this.liveCode(this.loginCodes, code);
    if (!record || record.appid !== app.appid || record.scope === undefined) return WECHAT_ERRORS.invalidCode;
    if (record.used) return WECHAT_ERRORS.codeUsed;
    record.used = true;
    if (record.snapshot) {
      const { unionid } = record.snapshot;
      return {
        appid: app.appid,
        openid: record.openid,
        ...(unionid === undefined ? {} : { unionid }),
        scope: record.scope,
        snapshot: true,
      };
    }
    const user = this.user(record.openid, app);
    // An official account's silent login (snsapi_base) gets no unionid: WeChat's web authorization
    // documents unionid "只有当scope为snsapi_userinfo时返回"; the other kinds' exchanges carry it.
    const withUnionid =
      user.unionid !== undefined && !(app.kind === 'official_account' && record.scope === 'snsapi_base');
    return {
      appid: app.appid,
      openid: user.openid,
      ...(withUnionid ? { unionid: user.unionid } : {}),
      scope: record.scope,
      snapshot: false,
    };
  }

  /**
   * The code a Moments (朋友圈) snapshot page gets: WeChat opens a page that asks for snsapi_userinfo
   * too early as a snapshot, shows no consent and hands the page a virtual account's openid (and
   * unionid, if the person has one: the announcement says both are virtual), granting snsapi_base.
   * A new virtual account each time, known to no app and to no other API.
   */
  snapshotCode(user: UserRecord | undefined, app: AppState): string {
    const snapshot = user?.unionid === undefined ? {} : { unionid: newUnionid() };
    return this.issueCode(
      this.loginCodes,
      { appid: app.appid, openid: newOpenid() },
      'snsapi_base',
      snapshot,
    );
  }

  /** The openids in the app of the people the emulator knows, oldest first: whom a login page offers. */
  openidsIn(app: AppState): string[] {
    const seen = new Set<PersonRecord>();
    const openids: string[] = [];
    for (const user of this.identities.values()) {
      if (seen.has(user.person)) continue;
      seen.add(user.person);
      const own = user.person.byApp.get(app.appid);
      if (own) openids.push(own.openid);
    }
    return openids;
  }

  /** A used phone code, or another app's, is simply unknown to WeChat. */
  redeemPhoneCode(code: string, app: AppState): UserRecord | WechatFailure {
    const record = this.liveCode(this.phoneCodes, code);
    if (!record || record.used || record.appid !== app.appid) return WECHAT_ERRORS.invalidCode;
    record.used = true;
    return this.user(record.openid, app);
  }

  /** The app of these credentials: each app's secret opens that app only. */
  checkAppCredentials(
    appid: string | null | undefined,
    secret: string | null | undefined,
  ): AppState | WechatFailure {
    if (!appid) return WECHAT_ERRORS.appidMissing;
    const app = this.appStates.get(appid);
    if (!app) return WECHAT_ERRORS.invalidAppid;
    if (!secret) return WECHAT_ERRORS.secretMissing;
    if (secret !== app.app.secret) return WECHAT_ERRORS.invalidSecret;
    return app;
  }

  /**
   * getStableAccessToken. Normal mode answers the same token while it lives, and a new one in its last
   * 5 minutes (the old one then lives on to its expiry); force_refresh ends the old one at once.
   */
  stableAccessToken(app: AppState, forceRefresh: boolean): IssuedAccessToken {
    const now = this.now();
    const latest = app.latestStable;
    const record = latest === undefined ? undefined : app.tokens.get(latest);
    if (forceRefresh) {
      if (record) retire(record, now);
    } else if (latest !== undefined && record && this.tokenFailure(record, now) === undefined) {
      const remainingMs = record.expiresAtMs - now;
      if (remainingMs >= TOKEN_OVERLAP_MS)
        return { access_token: latest, expires_in: Math.ceil(remainingMs / 1000) };
    }
    app.latestStable = this.issueToken(app, now);
    return { access_token: app.latestStable, expires_in: this.config.accessTokenTtlS };
  }

  /** The legacy getAccessToken: a new token on every call; the previous one works 5 more minutes. */
  legacyAccessToken(app: AppState): IssuedAccessToken {
    const now = this.now();
    const previous = app.latestLegacy === undefined ? undefined : app.tokens.get(app.latestLegacy);
    if (previous && now < previous.expiresAtMs) retire(previous, now + TOKEN_OVERLAP_MS);
    app.latestLegacy = this.issueToken(app, now);
    return { access_token: app.latestLegacy, expires_in: this.config.accessTokenTtlS };
  }

  /** The app whose live access token this is: the token says which app calls. */
  accessTokenApp(token: string | null | undefined): AppState | WechatFailure {
    if (token) {
      for (const app of this.appStates.values()) {
        const record = app.tokens.get(token);
        if (record) return this.tokenFailure(record, this.now()) ?? app;
      }
    }
    return WECHAT_ERRORS.invalidAccessToken;
  }

  /** The app an access token (cgi-bin or sns, live or not) belongs to: which app a request is for. */
  tokenOwner(token: string | null | undefined): string | undefined {
    if (!token) return undefined;
    const sns = this.snsTokens.get(token);
    if (sns) return sns.appid;
    for (const app of this.appStates.values()) if (app.tokens.has(token)) return app.appid;
    return undefined;
  }

  invalidateAccessTokens(app?: AppState): void {
    const now = this.now();
    for (const each of app === undefined ? this.appStates.values() : [app]) {
      for (const record of each.tokens.values()) retire(record, now);
    }
  }

  issueSnsToken(grant: OauthGrant): IssuedAccessToken & { refresh_token: string } {
    const now = this.now();
    for (const [token, record] of this.snsTokens) {
      if (now - record.expiresAtMs > EXPIRED_TOKEN_MEMORY_MS) this.snsTokens.delete(token);
    }
    const token = newAccessToken();
    this.snsTokens.set(token, {
      appid: grant.appid,
      openid: grant.openid,
      scope: grant.scope,
      snapshot: grant.snapshot,
      expiresAtMs: now + this.config.accessTokenTtlS * 1000,
    });
    return { access_token: token, expires_in: this.config.accessTokenTtlS, refresh_token: newRefreshToken() };
  }

  /** /sns/userinfo's token: an unknown one is 40001 there, not 40014 as on the cgi-bin APIs. */
  snsToken(token: string | null | undefined): SnsTokenRecord | WechatFailure {
    const record = token ? this.snsTokens.get(token) : undefined;
    if (!record) return WECHAT_ERRORS.invalidCredential;
    if (this.now() >= record.expiresAtMs) return WECHAT_ERRORS.accessTokenExpired;
    return record;
  }

  /** A code wxacode.getUnlimited drew, for the phone to find (wxacodes()). */
  recordWxacode(code: DrawnWxacode): void {
    this.drawn.unshift(code);
    this.drawn.length = Math.min(this.drawn.length, DRAWN_WXACODES);
  }

  wxacodes(): DrawnWxacode[] {
    return this.drawn.map((code) => ({ ...code }));
  }

  reset(): void {
    this.drawn = [];
    this.identities.clear();
    this.loginCodes.clear();
    this.phoneCodes.clear();
    this.snsTokens.clear();
    for (const app of this.appStates.values()) app.reset();
  }

  private issueCode(
    codes: Map<string, CodeRecord>,
    user: { appid: string; openid: string },
    scope: OauthScope | undefined,
    snapshot?: { unionid?: string },
  ): string {
    const now = this.now();
    // Codes are issued in time order, so the expired ones are at the front of the map.
    for (const [code, record] of codes) {
      if (now - record.issuedAtMs < this.config.codeTtlMs) break;
      codes.delete(code);
    }
    const code = newCode();
    const record: CodeRecord = { appid: user.appid, openid: user.openid, issuedAtMs: now, used: false };
    if (scope !== undefined) record.scope = scope;
    if (snapshot !== undefined) record.snapshot = snapshot;
    codes.set(code, record);
    return code;
  }

  private liveCode(codes: Map<string, CodeRecord>, code: string): CodeRecord | undefined {
    const record = codes.get(code);
    if (!record) return undefined;
    const age = this.now() - record.issuedAtMs;
    return age >= 0 && age < this.config.codeTtlMs ? record : undefined;
  }

  private issueToken(app: AppState, now: number): string {
    for (const [token, record] of app.tokens) {
      if (now - record.expiresAtMs > EXPIRED_TOKEN_MEMORY_MS) app.tokens.delete(token);
    }
    const token = newAccessToken();
    app.tokens.set(token, { expiresAtMs: now + this.config.accessTokenTtlS * 1000 });
    return token;
  }

  private tokenFailure(record: TokenRecord, now: number): WechatFailure | undefined {
    if (record.retiredAtMs !== undefined && now >= record.retiredAtMs) return WECHAT_ERRORS.invalidCredential;
    if (now >= record.expiresAtMs) return WECHAT_ERRORS.accessTokenExpired;
    return undefined;
  }
}

/**
 * The scope a login on the app grants: a mobile app's SendAuth asks snsapi_userinfo, a website's QR
 * login is snsapi_login, and an official account's silent login snsapi_base.
 */
function defaultScope(kind: EmulatedApp['kind']): OauthScope {
  if (kind === 'mobile') return 'snsapi_userinfo';
  if (kind === 'website') return 'snsapi_login';
  return 'snsapi_base';
}

/** Brings a token's end forward to `atMs` (never later: an invalidated token stays invalid). */
function retire(record: TokenRecord, atMs: number): void {
  if (record.retiredAtMs === undefined || record.retiredAtMs > atMs) record.retiredAtMs = atMs;
}

export function publicUser(user: UserRecord): EmulatedUser {
  return {
    openid: user.openid,
    openids: Object.fromEntries([...user.person.byApp].map(([appid, each]) => [appid, each.openid])),
    ...(user.unionid === undefined ? {} : { unionid: user.unionid }),
    phoneNumber: user.phoneNumber,
    countryCode: user.countryCode,
  };
}
