/**
 * The shapes of the identifiers that come from outside and end up in Redis keys, log lines and URLs. One
 * definition each: the safety of the Redis key layout (no `{`, `}`, `:` or spaces inside a hash tag)
 * rests on them.
 */

/** An openid (or unionid): WeChat's are 'o' + 27 base64url characters; tests use readable ones. */
export type Openid = string & { readonly __brand: 'Openid' };

export const OPENID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const OPENID_SHAPE = '1 to 64 characters of A-Z a-z 0-9 _ -';

/**
 * An AppID as a setting or a request may name one: WeChat's are `wx` + 16 hex digits (the apps file
 * checks that shape); an appid ends up in Redis keys too, so it takes the same characters as an openid.
 */
export const APPID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function isOpenid(value: unknown): value is Openid {
  return typeof value === 'string' && OPENID_PATTERN.test(value);
}

/**
 * The openid a key is built from. Every caller got it from a verified source (a token, WeChat, a parsed
 * refresh token); one that does not fit is a bug, and it must not reach a key.
 */
export function requireOpenid(value: string): Openid {
  if (!isOpenid(value)) throw new TypeError('not an openid: refusing to build a key from it');
  return value;
}

/**
 * A one-time code a client relays (wx.login()'s code, a getPhoneNumber button's code): printable ASCII
 * without spaces. WeChat documents no length; 128 is far above any it issues.
 */
export const CODE_PATTERN = /^[\x21-\x7e]{1,128}$/;
export const CODE_SHAPE = '1 to 128 printable ASCII characters without spaces';
