/**
 * A refresh token, a successor seed and the successor they give, as computed by the version before
 * token hashes and seeds were bytes (seeds were base64url strings, and the successor's secret the HMAC
 * of that text). A family that version rotated, retried within its grace window after an upgrade, must
 * rebuild this very successor; the digests are those that version's families hold.
 */
export const PREVIOUS_VERSION = {
  openid: 'oVectorOpenid0123456789abcde',
  familyId: 'BwcHBwcHBwcHBwcH',
  /** Version 1, the family id, the secret 0…31, the openid. */
  token: 'AQcHBwcHBwcHBwcHBwABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fb1ZlY3Rvck9wZW5pZDAxMjM0NTY3ODlhYmNkZQ',
  /** Its hash then: the base64url SHA-256 of the token. */
  tokenHash: 'X1kCYvkp_eKv13JZ1uAblYLADHS2B7DvAcsG2SooyCY',
  /** 255 down to 224; that version's seed was the base64url text `__79_Pv6-fj39vX08_Lx8O_u7ezr6uno5-bl5OPi4eA`. */
  seed: Buffer.from('fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0efeeedecebeae9e8e7e6e5e4e3e2e1e0', 'hex'),
  successor:
    'AQcHBwcHBwcHBwcHB2VHqswZSQloa7a0NEE6IV85Z_VT2xiVchqj577uSPZJb1ZlY3Rvck9wZW5pZDAxMjM0NTY3ODlhYmNkZQ',
  successorHash: '6SG2AzjQwmY65hdcBt63QX5vcUM7J-ecwplHXcIkH1A',
} as const;
