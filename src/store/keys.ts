/**
 * Redis key layout. Every key of one user carries the hash tag `{openid}`, so multi-key scripts stay in
 * one Cluster slot. Openids are validated (base64url-like, at most 64 characters) before they get here.
 */
export function userKeys(prefix: string, openid: string) {
  const tag = `${prefix}{${openid}}`;
  return {
    /** Hash: sk (session_key), uid (unionid), fl (first login ms), ll (last login ms). No TTL. */
    user: `${tag}:u`,
    /** Set of the user's family ids, for logout-all. TTL: the longest family's. */
    families: `${tag}:fs`,
    /** Hash: cur, prev (token hashes), rot (ms), succ (sealed successor), exp, abs (ms). */
    family: (familyId: string) => `${tag}:f:${familyId}`,
  };
}
