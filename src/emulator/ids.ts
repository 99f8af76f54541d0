import { createHash, randomBytes, randomInt } from 'node:crypto';
import { epochSeconds } from '../lib/index.js';

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** 'o' + 27 characters of base64url, the shape of WeChat's openids and unionids. */
export function newOpenid(): string {
  return `o${randomBytes(21).toString('base64url').slice(0, 27)}`;
}

export const newUnionid = newOpenid;

/**
 * A person's openid in `appid`, derived from their openid in another app: random-looking and distinct
 * per app as WeChat's are, yet the same on every run for the same apps and chosen openid ('o-alice').
 */
export function derivedOpenid(appid: string, fromAppid: string, fromOpenid: string): string {
  const digest = createHash('sha256').update(`${appid}\0${fromAppid}\0${fromOpenid}`).digest('base64url');
  return `o${digest.slice(0, 27)}`;
}

/** 16 random bytes, base64: 24 characters ending in '=='. */
export function newSessionKey(): string {
  return randomBytes(16).toString('base64');
}

/** 32 alphanumeric characters, like the codes wx.login() and getPhoneNumber give. */
export function newCode(): string {
  return Array.from(randomBytes(32), (byte) => ALPHANUMERIC[byte % ALPHANUMERIC.length]).join('');
}

export function newAccessToken(): string {
  return randomBytes(96).toString('base64url');
}

/** The refresh_token of /sns/oauth2/access_token: WeChat's are as long as its access tokens. */
export const newRefreshToken = newAccessToken;

export function newAppid(): string {
  return `wx${randomBytes(8).toString('hex')}`;
}

export function newSecret(): string {
  return randomBytes(16).toString('hex');
}

/** A mainland mobile number, as purePhoneNumber. */
export function newPhoneNumber(): string {
  return `138${String(randomInt(0, 100_000_000)).padStart(8, '0')}`;
}

/** WeChat's request id: three groups of 8 hex digits, the first the time in seconds. */
export function newRid(nowMs: number): string {
  const seconds = epochSeconds(nowMs).toString(16).padStart(8, '0').slice(-8);
  return `${seconds}-${randomBytes(4).toString('hex')}-${randomBytes(4).toString('hex')}`;
}
