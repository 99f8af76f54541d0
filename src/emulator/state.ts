import type { Clock } from '../lib/index.js';
import { newAccessToken, newCode, newOpenid, newPhoneNumber, newSessionKey, newUnionid } from './ids.js';
import { ControlError, expectObject, ID_PATTERN, ID_SHAPE, onlyKeys, optionalString } from './input.js';
import type { CreateUserOptions, DrawnWxacode, EmulatedUser } from './types.js';
import { WECHAT_ERRORS, type WechatFailure } from './wechat-errors.js';

export interface UserRecord {
  openid: string;
  unionid?: string;
  phoneNumber: string;
  countryCode: string;
  sessionKey: string;
}

export interface StateConfig {
  clock: Clock;
  appid: string;
  secret: string;
  codeTtlMs: number;
  accessTokenTtlS: number;
  /** The published mini-program's pages (wxacode's check_path). */
  pages: readonly string[];
}

interface CodeRecord {
  openid: string;
  issuedAtMs: number;
  used: boolean;
}

interface TokenRecord {
  expiresAtMs: number;
  /** From this time on the token answers 40001 (superseded or invalidated). */
  retiredAtMs?: number;
}

export interface IssuedAccessToken {
  access_token: string;
  expires_in: number;
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

/** Users, their codes and the app's access tokens: everything WeChat would remember. */
export class EmulatorState {
  private readonly users = new Map<string, UserRecord>();
  private readonly loginCodes = new Map<string, CodeRecord>();
  private readonly phoneCodes = new Map<string, CodeRecord>();
  private readonly tokens = new Map<string, TokenRecord>();
  // stable_token and the legacy token are separate credentials at WeChat, each with its own latest.
  private latestStable: string | undefined;
  private latestLegacy: string | undefined;
  /** Newest first. */
  private drawn: DrawnWxacode[] = [];

  constructor(readonly config: StateConfig) {}

  now(): number {
    return this.config.clock.now();
  }

  createUser(opts: CreateUserOptions = {}): EmulatedUser {
    const input = expectObject(opts, 'The user');
    onlyKeys(input, ['openid', 'unionid', 'phoneNumber', 'countryCode'], 'The user');
    const openid = optionalString(input.openid, 'openid', ID_PATTERN, ID_SHAPE) ?? newOpenid();
    if (this.users.has(openid))
      throw new ControlError(409, 'conflict', `A user with openid ${openid} exists already.`);
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
    const user: UserRecord = { openid, phoneNumber, countryCode, sessionKey: newSessionKey() };
    if (unionid !== undefined) user.unionid = unionid;
    this.users.set(openid, user);
    return publicUser(user);
  }

  findUser(openid: string): UserRecord | undefined {
    return this.users.get(openid);
  }

  /** The user, or a 404 for the control surface. */
  user(openid: string): UserRecord {
    const user = this.users.get(openid);
    if (!user) throw new ControlError(404, 'not_found', `No emulated user has openid ${openid}.`);
    return user;
  }

  /** wx.login(): a new session_key (unless kept) and a code that WeChat will exchange for it. */
  login(openid: string | undefined, rotateSessionKey: boolean): { code: string; openid: string } {
    let user = openid === undefined ? undefined : this.users.get(openid);
    if (user) {
      if (rotateSessionKey) user.sessionKey = newSessionKey();
    } else {
      user = this.user(this.createUser(openid === undefined ? {} : { openid }).openid);
    }
    const code = this.issueCode(this.loginCodes, user.openid);
    return { code, openid: user.openid };
  }

  phoneCode(openid: string): string {
    return this.issueCode(this.phoneCodes, this.user(openid).openid);
  }

  /** jscode2session's core: the session_key current now, not the one current when the code was issued. */
  exchangeLoginCode(code: string): UserRecord | WechatFailure {
    const record = this.liveCode(this.loginCodes, code);
    if (!record) return WECHAT_ERRORS.invalidCode;
    if (record.used) return WECHAT_ERRORS.codeUsed;
    record.used = true;
    return this.user(record.openid);
  }

  /** A used phone code is simply unknown to WeChat. */
  redeemPhoneCode(code: string): UserRecord | WechatFailure {
    const record = this.liveCode(this.phoneCodes, code);
    if (!record || record.used) return WECHAT_ERRORS.invalidCode;
    record.used = true;
    return this.user(record.openid);
  }

  checkAppCredentials(
    appid: string | null | undefined,
    secret: string | null | undefined,
  ): WechatFailure | undefined {
    if (!appid) return WECHAT_ERRORS.appidMissing;
    if (appid !== this.config.appid) return WECHAT_ERRORS.invalidAppid;
    if (!secret) return WECHAT_ERRORS.secretMissing;
    if (secret !== this.config.secret) return WECHAT_ERRORS.invalidSecret;
    return undefined;
  }

  /**
   * getStableAccessToken. Normal mode answers the same token while it lives, and a new one in its last
   * 5 minutes (the old one then lives on to its expiry); force_refresh ends the old one at once.
   */
  stableAccessToken(forceRefresh: boolean): IssuedAccessToken {
    const now = this.now();
    const latest = this.latestStable;
    const record = latest === undefined ? undefined : this.tokens.get(latest);
    if (forceRefresh) {
      if (record) retire(record, now);
    } else if (latest !== undefined && record && this.tokenFailure(record, now) === undefined) {
      const remainingMs = record.expiresAtMs - now;
      if (remainingMs >= TOKEN_OVERLAP_MS)
        return { access_token: latest, expires_in: Math.ceil(remainingMs / 1000) };
    }
    this.latestStable = this.issueToken(now);
    return { access_token: this.latestStable, expires_in: this.config.accessTokenTtlS };
  }

  /** The legacy getAccessToken: a new token on every call; the previous one works 5 more minutes. */
  legacyAccessToken(): IssuedAccessToken {
    const now = this.now();
    const previous = this.latestLegacy === undefined ? undefined : this.tokens.get(this.latestLegacy);
    if (previous && now < previous.expiresAtMs) retire(previous, now + TOKEN_OVERLAP_MS);
    this.latestLegacy = this.issueToken(now);
    return { access_token: this.latestLegacy, expires_in: this.config.accessTokenTtlS };
  }

  checkAccessToken(token: string | null | undefined): WechatFailure | undefined {
    const record = token ? this.tokens.get(token) : undefined;
    if (!record) return WECHAT_ERRORS.invalidAccessToken;
    return this.tokenFailure(record, this.now());
  }

  invalidateAccessTokens(): void {
    const now = this.now();
    for (const record of this.tokens.values()) retire(record, now);
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
    this.users.clear();
    this.loginCodes.clear();
    this.phoneCodes.clear();
    this.tokens.clear();
    this.latestStable = undefined;
    this.latestLegacy = undefined;
  }

  private issueCode(codes: Map<string, CodeRecord>, openid: string): string {
    const now = this.now();
    // Codes are issued in time order, so the expired ones are at the front of the map.
    for (const [code, record] of codes) {
      if (now - record.issuedAtMs < this.config.codeTtlMs) break;
      codes.delete(code);
    }
    const code = newCode();
    codes.set(code, { openid, issuedAtMs: now, used: false });
    return code;
  }

  private liveCode(codes: Map<string, CodeRecord>, code: string): CodeRecord | undefined {
    const record = codes.get(code);
    if (!record) return undefined;
    const age = this.now() - record.issuedAtMs;
    return age >= 0 && age < this.config.codeTtlMs ? record : undefined;
  }

  private issueToken(now: number): string {
    for (const [token, record] of this.tokens) {
      if (now - record.expiresAtMs > EXPIRED_TOKEN_MEMORY_MS) this.tokens.delete(token);
    }
    const token = newAccessToken();
    this.tokens.set(token, { expiresAtMs: now + this.config.accessTokenTtlS * 1000 });
    return token;
  }

  private tokenFailure(record: TokenRecord, now: number): WechatFailure | undefined {
    if (record.retiredAtMs !== undefined && now >= record.retiredAtMs) return WECHAT_ERRORS.invalidCredential;
    if (now >= record.expiresAtMs) return WECHAT_ERRORS.accessTokenExpired;
    return undefined;
  }
}

/** Brings a token's end forward to `atMs` (never later: an invalidated token stays invalid). */
function retire(record: TokenRecord, atMs: number): void {
  if (record.retiredAtMs === undefined || record.retiredAtMs > atMs) record.retiredAtMs = atMs;
}

export function publicUser(user: UserRecord): EmulatedUser {
  return {
    openid: user.openid,
    ...(user.unionid === undefined ? {} : { unionid: user.unionid }),
    phoneNumber: user.phoneNumber,
    countryCode: user.countryCode,
  };
}
