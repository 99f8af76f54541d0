/**
 * Redis key layout. The builders below name the keys; USER_KEY_LAYOUT and APP_KEY_LAYOUT describe them,
 * once: the "Redis layout" tables of docs/operations.md are generated from those two by
 * `npm run env-example`. Every key of one user carries the hash tag `{openid}`, so multi-key scripts
 * stay in one Cluster slot.
 * Openids are validated (base64url-like, at most 64 characters) before they get here.
 */
export function userKeys(prefix: string, openid: string) {
  const tag = `${prefix}{${openid}}`;
  return {
    /** {@link USER_KEY_LAYOUT.user} */
    user: `${tag}:u`,
    /** {@link USER_KEY_LAYOUT.sessions} */
    sessions: `${tag}:s`,
    /** {@link USER_KEY_LAYOUT.family} */
    family: (familyId: string) => `${tag}:f:${familyId}`,
    /** {@link USER_KEY_LAYOUT.revoked} */
    revoked: `${tag}:r`,
    /** {@link USER_KEY_LAYOUT.ban} */
    ban: `${tag}:b`,
  };
}

/**
 * Keys of one person: the identities (apps' openids) WeChat gave one unionid. They carry the hash tag
 * `{u:<unionid>}` (an openid never holds a colon), so they share a slot with each other but not with the
 * identities' own keys: a person-wide operation reads them, then acts on each identity in its own slot.
 */
export function personKeys(prefix: string, unionid: string) {
  const tag = `${prefix}{u:${unionid}}`;
  return {
    /** {@link PERSON_KEY_LAYOUT.identities} */
    identities: `${tag}:p`,
    /** {@link PERSON_KEY_LAYOUT.ban} */
    ban: `${tag}:b`,
  };
}

/** Keys of the app rather than of a user: one key per command, so no hash tag is needed. */
export function appKeys(prefix: string) {
  return {
    /** {@link APP_KEY_LAYOUT.wechatAccessToken} */
    wechatAccessToken: (appid: string | undefined) =>
      appid === undefined ? `${prefix}wechat:at` : `${prefix}wechat:at:${appid}`,
    /** {@link APP_KEY_LAYOUT.lock} */
    lock: (name: string) => `${prefix}lock:${name}`,
    /** {@link APP_KEY_LAYOUT.probe} */
    probe: `${prefix}ready`,
    /** {@link APP_KEY_LAYOUT.loginCode} */
    loginCode: (codeHash: string) => `${prefix}code:${codeHash}`,
    /** {@link APP_KEY_LAYOUT.revocationLog} */
    revocationLog: `${prefix}rv`,
    /** Pub/sub channel (not a key), under the revocation log's name: {@link APP_KEY_LAYOUT.revocationLog}. */
    revocationChannel: `${prefix}rv`,
    /** {@link APP_KEY_LAYOUT.webLogin} */
    webLogin: (ticket: string) => `${prefix}qr:${ticket}`,
    /** Pub/sub channel (not a key), under the tickets' prefix: {@link APP_KEY_LAYOUT.webLogin}. */
    webLoginChannel: `${prefix}qr`,
    /** {@link APP_KEY_LAYOUT.authorizationRequest} */
    authorizationRequest: (stateHash: string) => `${prefix}oa:${stateHash}`,
    /** {@link APP_KEY_LAYOUT.authorizationCode} */
    authorizationCode: (codeHash: string) => `${prefix}oc:${codeHash}`,
  };
}

/**
 * One key as docs/operations.md shows it (Markdown): named with the default prefix, its Redis type, TTL,
 * content.
 */
export interface KeyLayout {
  key: string;
  type: string;
  ttl: string;
  holds: string;
}

/** The keys of one user (userKeys), in the guide's order. */
export const USER_KEY_LAYOUT = {
  user: {
    key: 'wxauth:{openid}:u',
    type: 'hash',
    ttl: 'none',
    holds:
      "one identity (an openid of one app): `k` the session_key (mini-programs only): the UTF-8 of it as given or, sealed with `SESSION_KEY_ENCRYPTION_KEYS`, a 0 byte then the sealed value's bytes (crypto/at-rest.ts); `a` the app's appid (none in records written before several apps: the first mini-program's); `u` unionid; `x` the unionid once the person's identities (`wxauth:{u:<unionid>}:p`) list this one; `f`/`l` first and last login (ms)",
  },
  family: {
    key: 'wxauth:{openid}:f:<family>',
    type: 'string',
    ttl: "the family's expiry",
    holds:
      "packed, big-endian: a layout byte (1), `exp`, `abs` (absolute limit, -1: none), `rot` (last rotation, -1: none yet) and `crt` (the login, -1: unknown) as 6-byte ms, the device's length (1 byte) and UTF-8 (cut at 255 bytes), then the current refresh-token SHA-256 digest and, once rotated, the previous one (32 bytes each) and the successor seed (a 0 tag byte then the seed's bytes): 123 bytes plus the device once rotated. Families written before the layout byte (`exp`, `abs` and `rot` as 8-byte ms, so the first byte is 0, then the digests and the seed; no login time or device) are still read, and rewritten at their next rotation",
  },
  sessions: {
    key: 'wxauth:{openid}:s',
    type: 'sorted set',
    ttl: "the longest family's",
    holds:
      "the user's family ids scored by each family's expiry (ms): for logout-all and the session cap (`MAX_SESSIONS_PER_USER`, which also bounds every script that walks it)",
  },
  revoked: {
    key: 'wxauth:{openid}:r',
    type: 'sorted set',
    ttl: 'the revocation window',
    holds:
      "the user's families ended within it and not yet in the revocation log (`wxauth:rv`), scored by when (ms), at most 256: the user's next ending logs them (a retry too), and logged ones leave it",
  },
  ban: {
    key: 'wxauth:{openid}:b',
    type: 'hash',
    ttl: 'until `u` (none: until lifted)',
    holds:
      "a ban: `r` reason, `u` until (ms), `t` when it was set, `p` the unionid when the ban is its person's; kept by an account deletion",
  },
} as const satisfies Record<keyof ReturnType<typeof userKeys>, KeyLayout>;

/** The keys of one person (personKeys), in the guide's order. */
export const PERSON_KEY_LAYOUT = {
  identities: {
    key: 'wxauth:{u:<unionid>}:p',
    type: 'hash',
    ttl: 'none',
    holds:
      "the person's identities: openid → appid, one field per app that saw the person; deleted with the person unless the person is banned (the ban keeps it)",
  },
  ban: {
    key: 'wxauth:{u:<unionid>}:b',
    type: 'hash',
    ttl: 'until `u` (none: until lifted)',
    holds:
      "a ban of the person, as an identity's (`r`, `u`, `t`): an identity that joins later is banned too; kept by a deletion",
  },
} as const satisfies Record<keyof ReturnType<typeof personKeys>, KeyLayout>;

/**
 * The app's keys (appKeys, whose two channels share their keys' names, and the rate limiter's, which
 * http/middleware/rate-limit.ts names), in the guide's order.
 */
export const APP_KEY_LAYOUT = {
  wechatAccessToken: {
    key: 'wxauth:wechat:at:<appid>',
    type: 'string',
    ttl: "until the token's cached expiry",
    holds:
      "`<expiresAtMs>:<token>`: an app's WeChat access_token, shared by every instance (the token sealed with `SESSION_KEY_ENCRYPTION_KEYS` when set); the first mini-program's is `wxauth:wechat:at`, as before several apps",
  },
  lock: {
    key: 'wxauth:lock:<name>',
    type: 'string',
    ttl: "the lock's",
    holds:
      "the random id of the instance holding it: `wechat-access-token[:<appid>]` while it fetches an app's access_token (twice `WECHAT_TIMEOUT_MS` plus 3 s), `persons-linking` during the start-up pass that links identities written before several apps (10 min); `persons-linked` (`done`, a century) marks that pass made",
  },
  loginCode: {
    key: 'wxauth:code:<sha256 of the appid and the code>',
    type: 'string',
    ttl: '`LOGIN_RETRY_WINDOW` (≤ 60 s)',
    holds:
      "`''` while a login code's exchange runs, then its result sealed under a key derived from the code",
  },
  rateLimit: {
    key: 'wxauth:rl:<limit>:<address or openid>',
    type: 'string',
    ttl: "the limit's window",
    holds:
      'rate-limit counters (an address is an IP address, or an IPv6 /64; the per-app cap of codes counts under `wxauth:rl:qr_app:app`)',
  },
  probe: {
    key: 'wxauth:ready',
    type: 'string',
    ttl: '10 s',
    holds: 'written by `/readyz`, to see that Redis takes writes',
  },
  webLogin: {
    key: 'wxauth:qr:<ticket>',
    type: 'hash',
    ttl: "10 minutes past the ticket's expiry",
    holds:
      "a [web login](sdks.md#web-login-by-scanning-a-mini-program-code)'s ticket: `p` the poll token's SHA-256 (never the token), `s` its status, `c`/`e` created and expires (ms), `a`/`u` the browser's address and user agent, `m` the two digits the website shows and `h` the three choices the phone offers (number matching), `o` the openid that scanned it, `i` the session (family id) that confirmed it, `r`/`d` the delivered token response sealed under a key derived from the poll token (AES-256-GCM; no token in clear) and when (ms); `wxauth:qr` is also the pub/sub channel of ticket changes (the ticket id)",
  },
  authorizationRequest: {
    key: 'wxauth:oa:<sha256 of the state>',
    type: 'string',
    ttl: '10 minutes',
    holds:
      "a browser login (GET /oauth/authorize) waiting for WeChat's redirect back, under the SHA-256 of the state wxauth gave WeChat (never the state): JSON of the client's `clientId`, `redirectUri`, `clientState`, `codeChallenge` (PKCE S256), `nonce`, `scope` and `createdAtMs`; taken and deleted in one step by the callback",
  },
  authorizationCode: {
    key: 'wxauth:oc:<sha256 of the code>',
    type: 'hash',
    ttl: "the code's 60 s and 5 minutes more (a replay is still known)",
    holds:
      'an authorization code of GET /oauth/callback, under its SHA-256 (never the code): `g` JSON of its grant (client, redirect URI, PKCE challenge, nonce, scope, openid, unionid, auth time), `e` its expiry (ms), `o` the openid, `u` 1 once redeemed, `f` the session (family id) the redemption opened, `r` 1 once presented again (that session is ended)',
  },
  revocationLog: {
    key: 'wxauth:rv',
    type: 'sorted set',
    ttl: 'the revocation window',
    holds:
      "the revocation log: ids of sessions ended within `ACCESS_TOKEN_TTL` + `JWT_CLOCK_TOLERANCE` + 60 s, scored by Redis's time, for an instance catching up; `wxauth:rv` is also the pub/sub channel of endings",
  },
} as const satisfies Record<
  Exclude<keyof ReturnType<typeof appKeys>, 'revocationChannel' | 'webLoginChannel'> | 'rateLimit',
  KeyLayout
>;

/** One of docs/operations.md's Redis layout tables (between its redis-*-keys markers). */
export function renderKeyLayoutTable(layout: Record<string, KeyLayout>): string {
  const cell = (text: string) => text.replaceAll('|', '\\|');
  const rows = Object.values(layout).map(
    (k) => `| \`${k.key}\` | ${cell(k.type)} | ${cell(k.ttl)} | ${cell(k.holds)} |`,
  );
  return ['| key | type | TTL | holds |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
