/**
 * Redis key layout. Every key of one user carries the hash tag `{openid}`, so multi-key scripts stay in
 * one Cluster slot. Openids are validated (base64url-like, at most 64 characters) before they get here.
 */
export function userKeys(prefix: string, openid: string) {
  const tag = `${prefix}{${openid}}`;
  return {
    /** Hash: session_key, unionid, first and last login (ms); layout in scripts.ts (USER). No TTL. */
    user: `${tag}:u`,
    /**
     * Sorted set of the user's family ids, scored by each family's expiry (ms): for logout-all and the
     * session cap (layout in scripts.ts, SESSIONS). TTL: the longest family's.
     */
    sessions: `${tag}:s`,
    /**
     * String, packed: exp, abs, rot and crt (ms), the device, cur and prev (raw SHA-256 token hashes),
     * succ (successor seed); layout in scripts.ts (FAMILY). 123 bytes plus the device once rotated. TTL:
     * the family's expiry.
     */
    family: (familyId: string) => `${tag}:f:${familyId}`,
    /**
     * Sorted set of the user's families ended within the revocation window, scored by when (ms), so
     * that a retried ending logs them again (scripts.ts, REVOKED). TTL: the window.
     */
    revoked: `${tag}:r`,
    /** Hash: r (reason), u (until, ms; absent: none), t (when it was set, ms). TTL: until `u`. */
    ban: `${tag}:b`,
  };
}

/**
 * Keys of the app rather than of a user: one key per method, so no hash tag is needed. Every one has a
 * TTL.
 */
export function appKeys(prefix: string) {
  return {
    /** String `<expiresAtMs>:<token>`: the shared WeChat access_token. TTL: until its expiry. */
    wechatAccessToken: `${prefix}wechat:at`,
    /** String: the owner's random id. TTL: the lock's. */
    lock: (name: string) => `${prefix}lock:${name}`,
    /** String '1', written by the readiness check to see that Redis takes writes. TTL: 10 s. */
    probe: `${prefix}ready`,
    /** String: '' while its exchange is pending, then the sealed result. TTL: the claim's (≤ 60 s). */
    loginCode: (codeHash: string) => `${prefix}code:${codeHash}`,
    /**
     * Sorted set: the revocation log, ids of families ended in the last revocation window scored by
     * when they were logged (ms, Redis's clock), read by an instance catching up. TTL: the window.
     */
    revocationLog: `${prefix}rv`,
    /** Pub/sub channel (not a key): every ending, to every instance at once. */
    revocationChannel: `${prefix}rv`,
    /**
     * Hash: a web login's ticket (the scene of its mini-program code); fields in web-login.ts (TICKET).
     * TTL: ten minutes past the ticket's expiry.
     */
    webLogin: (ticket: string) => `${prefix}qr:${ticket}`,
    /** Pub/sub channel (not a key): the id of every ticket that changed, to every instance. */
    webLoginChannel: `${prefix}qr`,
  };
}
