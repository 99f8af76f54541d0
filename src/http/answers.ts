/*
 * The answers several routes share, as OpenAPI response objects, for the route declarations
 * (declare.ts): each is written once, here.
 */

export const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
export const json = (schema: object) => ({ 'application/json': { schema } });
export const error = (description: string) => ({ description, content: json(ref('Error')) });
export const bearerErrors = {
  '401': {
    ...error(
      'No token, or a malformed, forged or expired one, or one whose session has ended (RFC 6750 challenge in WWW-Authenticate).',
    ),
    headers: { 'WWW-Authenticate': { schema: { type: 'string' } } },
  },
  '503': error(
    "temporarily_unavailable: this instance has not yet read its store's record of ended sessions (it started while Redis was unreachable, or is still reading), or the store is unreachable; retry after Retry-After.",
  ),
};
/** The routes that end sessions share one limit per session of a user (RATE_LIMIT_ENDINGS_PER_USER). */
export const endingsLimited = {
  '429': error(
    'rate_limited: too many endings from this session (the ending routes share one limit per session of a user); see Retry-After.',
  ),
};
export const storeErrors = { '503': error('The store (Redis) is unreachable; retry after Retry-After.') };
export const upstreamErrors = {
  '502': error('WeChat unreachable, busy or answering nonsense.'),
  '504': error('WeChat did not answer in time.'),
};
export const badRequest = {
  '400': error('Malformed body (invalid_request).'),
  '413': error('Body larger than the limit.'),
};
export const bearerOrLoginRequired = {
  '401': {
    ...error(
      'invalid_token (RFC 6750 challenge in WWW-Authenticate), or login_required when no session_key is stored for the user.',
    ),
    headers: { 'WWW-Authenticate': { schema: { type: 'string' } } },
  },
};
export const openDataErrors = {
  ...badRequest,
  '400': error(
    "invalid_request (malformed field: bad base64, iv not 16 bytes…; or the token is not a mini-program session: a mobile App's has no session_key and no open data), decrypt_failed (the stored session_key is stale: wx.login() and POST /auth/login again), invalid_open_data (watermark of another app, openId of another user) or invalid_signature.",
  ),
  ...bearerOrLoginRequired,
  '429': error('rate_limited; see Retry-After.'),
  ...storeErrors,
};
