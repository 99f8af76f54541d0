import { z } from 'zod';
import { parseAtRestKeys } from '../crypto/index.js';
import { APPID_PATTERN } from '../lib/index.js';
import { SECRET_PATTERN } from './apps.js';

/**
 * Every setting, in one table: the loader, `.env.example` (scripts/gen-env-example.ts) and the settings
 * table of docs/configuration.md are all made from it, and a test fails when they drift apart.
 */
export interface SettingSpec {
  name: string;
  /** The default as a person reads it ('none: …' where absence means something). */
  default: string;
  doc: string;
  secret?: boolean;
  /** Set in .env.example as an example value rather than left commented out. */
  example?: string;
  /** A commented line of .env.example after the setting's own: a family of settings it names. */
  alsoExample?: string;
  schema: z.ZodType;
}

const seconds = (min: number) => z.coerce.number().int().min(min);
const port = z.coerce.number().int().min(0).max(65535);
const hostPortList = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port')).min(1));
/** `N/S`: N requests per S seconds; `0`: no limit. */
const rateLimit = z
  .string()
  .regex(/^(0|[1-9]\d{0,6}\/[1-9]\d{0,5})$/, 'expected N/S (N requests per S seconds) or 0')
  .transform((v) => {
    if (v === '0') return undefined;
    const [points, seconds] = v.split('/').map(Number) as [number, number];
    return { points, seconds };
  });

export const SETTINGS = [
  {
    name: 'NODE_ENV',
    default: 'development',
    doc: '`production` takes no default: every missing setting below that has one stops start-up.',
    schema: z.enum(['development', 'production', 'test']),
  },
  { name: 'PORT', default: '3000', doc: 'HTTP port (`0`: any free port, printed at start).', schema: port },
  {
    name: 'HOST',
    default: 'none: 127.0.0.1 with the emulator, else every interface',
    doc: 'Address to listen on. Unset, the zero-config mode (no WeChat credentials) is reachable from this machine only.',
    schema: z.string().min(1),
  },
  {
    name: 'HTTP_KEEP_ALIVE_TIMEOUT_MS',
    default: '65000',
    doc: 'How long an idle kept-alive connection stays open, milliseconds. Keep it above the idle timeout of any load balancer in front (60 s for most): one that reuses a connection the service just closed answers 502.',
    schema: z.coerce.number().int().min(1000).max(600000),
  },
  {
    name: 'METRICS_PORT',
    default: 'none: /metrics on PORT outside production (see METRICS_PUBLIC)',
    doc: 'Serve /metrics on this port only (on METRICS_HOST), and answer 404 for it on PORT. `0`: any free port, printed at start.',
    schema: port,
  },
  {
    name: 'METRICS_PUBLIC',
    default: 'none: 1 outside production, 0 in production',
    doc: '`1`: serve /metrics on the public PORT too (without METRICS_PORT); `0`: answer 404 for it there. In production it is off unless set, since the public port is what the internet reaches.',
    schema: z
      .enum(['0', '1'], { error: 'expected 1 (serve /metrics on PORT) or 0' })
      .transform((v) => v === '1'),
  },
  {
    name: 'METRICS_HOST',
    default: '127.0.0.1',
    doc: 'Address of the METRICS_PORT listener.',
    schema: z.string().min(1),
  },
  {
    name: 'ADMIN_API_KEYS',
    default: 'none: no admin API',
    doc: 'Comma-separated keys of the admin API (look a user up, log out everywhere, ban, delete), each at least 32 characters or `sha256:<hex>` of one; sent as `Authorization: Bearer <key>`. A key written `ro:<key>` or `ro:sha256:<hex>` is read-only: GET routes only, anything else 403. Unset, the admin listener does not exist.',
    secret: true,
    schema: z
      .string()
      .transform((s) =>
        s
          .split(',')
          .map((part) => part.trim())
          .filter(Boolean),
      )
      .pipe(
        z
          .array(
            z
              .string()
              .regex(
                // A key itself never starts with ro: (that marks a read-only one) nor sha256:.
                /^(ro:)?(sha256:[0-9a-fA-F]{64}|(?!sha256:|ro:)[\x21-\x7e]{32,512})$/,
                'each key must be 32 to 512 printable characters without spaces (not starting with ro: or sha256:), or sha256:<64 hex digits> of one, either after ro: for a read-only key',
              )
              .transform((entry) =>
                entry.startsWith('ro:')
                  ? { key: entry.slice('ro:'.length), readOnly: true }
                  : { key: entry, readOnly: false },
              ),
          )
          .min(1),
      ),
  },
  {
    name: 'ADMIN_PORT',
    default: 'none',
    doc: 'Port of the admin API (on ADMIN_HOST), never the public PORT; required with ADMIN_API_KEYS. `0`: any free port, printed at start.',
    schema: port,
  },
  {
    name: 'ADMIN_HOST',
    default: '127.0.0.1',
    doc: 'Address of the admin listener. Put it on a network only operators reach.',
    schema: z.string().min(1),
  },
  {
    name: 'LOG_LEVEL',
    default: 'info',
    doc: 'pino level: fatal, error, warn, info, debug, trace or silent.',
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  },
  {
    name: 'WECHAT_APPID',
    default: 'none: the emulator',
    doc: "The mini-program's AppID, for a deployment that serves one mini-program (WECHAT_APPS_FILE serves several apps, and is refused beside this pair). Unset with WECHAT_SECRET and WECHAT_APPS_FILE: the built-in emulator of the WeChat API when nothing real is configured (see WECHAT_EMULATOR), else start-up stops.",
    schema: z.string().regex(APPID_PATTERN, 'expected an AppID such as wx1234567890abcdef'),
  },
  {
    name: 'WECHAT_SECRET',
    default: 'none: the emulator',
    doc: "The mini-program's AppSecret.",
    secret: true,
    schema: z.string().regex(SECRET_PATTERN, 'expected the AppSecret (letters and digits)'),
  },
  {
    name: 'WECHAT_APPS_FILE',
    default: 'none: WECHAT_APPID/WECHAT_SECRET, one mini-program',
    doc: 'Path (from the working directory) to a JSON file of the WeChat apps this deployment serves, instead of WECHAT_APPID/WECHAT_SECRET: `{"apps": [{"appid", "kind", "secret"?, "name"?, "audience"?, "claims"?, "redirect_uris"?}]}`; docs/apps.example.json is one. `appid`: `wx` and 16 letters or digits, each listed once. `kind`: `miniprogram`, `mobile`, `official_account` or `website`. `secret`: the AppSecret; left out, it is read from the setting `WECHAT_SECRET_<APPID>` (the appid in upper case, such as `WECHAT_SECRET_WX1234567890ABCDEF`; a secret, never committed), so the file holds no secret and can be committed. `name`: what a person sees (default the appid). `audience`: `aud` of this app\'s access tokens, a string or a list (default JWT_AUDIENCE). `claims`: `["unionid"]` puts the person\'s unionid into this app\'s access tokens when known (default none). `redirect_uris`: required for `official_account` and `website` apps and refused for others: the exact URIs (no wildcards, no fragment, no user@) a browser login may return to, each `https://` (`http://localhost` or `http://127.0.0.1` outside production). Any other field is refused. A mistake stops start-up with one line naming the app and the field; the file is read once, at start-up.',
    alsoExample: 'WECHAT_SECRET_WX1234567890ABCDEF=',
    schema: z.string().min(1),
  },
  {
    name: 'WECHAT_API_BASE',
    default: 'https://api.weixin.qq.com',
    doc: 'Base URL of the WeChat server API; point it at any server that speaks that API.',
    schema: z.url({ protocol: /^https?$/ }).transform((u) => u.replace(/\/+$/, '')),
  },
  {
    name: 'WECHAT_OPEN_BASE',
    default: 'https://open.weixin.qq.com',
    doc: "Base URL of WeChat's browser login pages (`/connect/oauth2/authorize` for official accounts, `/connect/qrconnect` for websites), where GET /oauth/authorize sends the browser. With the built-in emulator, the emulator's own URL is used instead.",
    schema: z.url({ protocol: /^https?$/ }).transform((u) => u.replace(/\/+$/, '')),
  },
  {
    name: 'WECHAT_EMULATOR',
    default: 'none: on only when nothing real is configured',
    doc: 'The built-in WeChat emulator and /demo. Unset, they run when no WeChat credentials (nor WECHAT_APPS_FILE) are set and none of REDIS_URL, REDIS_CLUSTER_NODES, REDIS_SENTINELS, JWT_SIGNING_KEYS_FILE, SESSION_KEY_ENCRYPTION_KEYS is; real parts without credentials stop start-up. `1` runs them beside real parts (a shared development setup; refused in production and with WeChat credentials or WECHAT_APPS_FILE); `0` never runs them.',
    schema: z
      .enum(['0', '1'], { error: 'expected 1 (run the built-in emulator) or 0' })
      .transform((v) => v === '1'),
  },
  {
    name: 'WECHAT_TIMEOUT_MS',
    default: '5000',
    doc: 'Total time allowed for the WeChat calls of one request (access_token fetch, lock waits, the call and its one retry), milliseconds; past it the client gets 504.',
    schema: z.coerce.number().int().min(100).max(60000),
  },
  {
    name: 'WECHAT_BREAKER_THRESHOLD',
    default: '5',
    doc: 'Consecutive failures of one WeChat API (unreachable, timeout, HTTP error, garbage, -1 busy) after which calls to that API fail fast with 502 for WECHAT_BREAKER_COOLDOWN_MS; each API has its own breaker.',
    schema: z.coerce.number().int().min(1).max(1000),
  },
  {
    name: 'WECHAT_BREAKER_COOLDOWN_MS',
    default: '5000',
    doc: 'How long calls to a WeChat API fail fast once its breaker opened, before one trial call goes through.',
    schema: z.coerce.number().int().min(100).max(300000),
  },
  {
    name: 'REDIS_URL',
    default: 'none: in-memory store',
    doc: '`redis://…` or `rediss://…` of the Redis that holds sessions.',
    secret: true,
    schema: z.url({ protocol: /^rediss?$/ }),
  },
  {
    name: 'REDIS_CLUSTER_NODES',
    default: 'none',
    doc: 'Comma-separated `host:port` seeds of a Redis Cluster, used instead of REDIS_URL.',
    schema: hostPortList,
  },
  {
    name: 'REDIS_SENTINELS',
    default: 'none',
    doc: 'Comma-separated `host:port` of Redis Sentinels, used instead of REDIS_URL (with REDIS_SENTINEL_NAME).',
    schema: hostPortList,
  },
  {
    name: 'REDIS_SENTINEL_NAME',
    default: 'none',
    doc: "The Sentinel master's name.",
    schema: z.string().min(1),
  },
  {
    name: 'REDIS_COMMAND_TIMEOUT_MS',
    default: '500',
    doc: 'How long one Redis command may take before the request fails with 503 (commands are never queued while Redis is unreachable).',
    schema: z.coerce.number().int().min(50).max(10000),
  },
  {
    name: 'REDIS_KEY_PREFIX',
    default: 'wxauth:',
    doc: 'Prefix of every Redis key, so several services can share one Redis.',
    schema: z.string().regex(/^[A-Za-z0-9:_.-]{0,32}$/, 'expected up to 32 of A-Z a-z 0-9 : _ . -'),
  },
  {
    name: 'ACCESS_TOKEN_TTL',
    default: '900',
    doc: 'Access-token lifetime, seconds.',
    schema: seconds(1).max(86400),
  },
  {
    name: 'REFRESH_TOKEN_TTL',
    default: '2592000',
    doc: 'Refresh-token lifetime, seconds; sliding: each rotation starts it again, capped by REFRESH_TOKEN_MAX_LIFETIME.',
    schema: seconds(60),
  },
  {
    name: 'REFRESH_TOKEN_MAX_LIFETIME',
    default: '0',
    doc: 'Absolute limit of one login (refresh-token family), seconds from the login; 0: none.',
    schema: seconds(0),
  },
  {
    name: 'REFRESH_REUSE_GRACE',
    default: '10',
    doc: 'Seconds during which a just-rotated refresh token may be presented again (concurrent tabs, a retried request) and gets the same successor instead of being treated as theft.',
    schema: seconds(0).max(300),
  },
  {
    name: 'MAX_SESSIONS_PER_USER',
    default: '50',
    doc: 'Live sessions (logins on different phones or reinstalls) one user may have; a login beyond it ends the least recently used one. Bounds the work of every login and logout-all.',
    schema: z.coerce.number().int().min(1).max(1000),
  },
  {
    name: 'LOGIN_RETRY_WINDOW',
    default: '60',
    doc: "Seconds during which the same login code sent again (a double tap, a retry after a lost answer) gets a session from the first exchange instead of WeChat's 40163; at most 60.",
    schema: seconds(1).max(60),
  },
  {
    name: 'QR_LOGIN_PAGE',
    default: 'pages/qr-login/index',
    doc: "The mini-program page a web login's code opens (without a leading slash); it reads the ticket from options.scene and asks the user to confirm. The built-in emulator has it.",
    schema: z
      .string()
      .max(256)
      .regex(/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/, 'expected a page path such as pages/qr-login/index'),
  },
  {
    name: 'QR_LOGIN_APPID',
    default: 'none: the first miniprogram app',
    doc: 'The mini-program whose code a web login shows (scanned with WeChat, it opens QR_LOGIN_PAGE there): a `miniprogram` app of WECHAT_APPS_FILE. Unset: the first `miniprogram` app listed (with WECHAT_APPID, that one; with the emulator, its own). An apps file without a mini-program has no web login by scanning.',
    schema: z.string().regex(APPID_PATTERN, 'expected an AppID such as wx1234567890abcdef'),
  },
  {
    name: 'QR_LOGIN_TTL',
    default: '120',
    doc: "Seconds a web login's ticket (its mini-program code) may be scanned and confirmed; it is used once.",
    schema: seconds(30).max(1800),
  },
  {
    name: 'QR_LOGIN_ENV_VERSION',
    default: 'release',
    doc: "The mini-program version a web login's code opens: `release`, or `trial` or `develop` while QR_LOGIN_PAGE is not released yet (WeChat then does not check that the page exists).",
    schema: z.enum(['release', 'trial', 'develop']),
  },
  {
    name: 'SESSION_KEY_ENCRYPTION_KEYS',
    default: 'none: stored in clear (refused in production)',
    doc: 'Keys that encrypt session_keys and the cached WeChat access_token at rest (AES-256-GCM): `kid:base64-of-32-bytes`, comma-separated; the first encrypts, every one decrypts, so a new key can be put first without logging anyone out. `npm run keys -- --at-rest` prints one.',
    secret: true,
    schema: z.string().superRefine((value, ctx) => {
      try {
        parseAtRestKeys(value);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
      }
    }),
  },
  {
    name: 'JWT_SIGNING_KEYS_FILE',
    default: 'none: an ephemeral key',
    doc: 'Path to a JSON Web Key Set of private keys (`npm run keys` writes one); the first signs, every one verifies. Required in production.',
    secret: true,
    schema: z.string().min(1),
  },
  {
    name: 'PUBLIC_URL',
    default: 'none: `http://localhost:<PORT>` (required in production, `https://`)',
    doc: "The service's public base URL, as clients and other services reach it: the default `iss` of access tokens and the prefix of every absolute URL in the discovery documents (`/.well-known/openid-configuration`). With PORT=0 the default names the port the service was given. In zero-config mode it is the URL the walk-through prints.",
    schema: z
      .url({ protocol: /^https?$/ })
      .refine((u) => !/[?#]/.test(u), 'a base URL has no query or fragment')
      .transform((u) => u.replace(/\/+$/, '')),
  },
  {
    name: 'JWT_ISSUER',
    default: 'none: PUBLIC_URL',
    doc: '`iss` of access tokens, checked on every verification; discovery documents name it as `issuer` and still take their URLs from PUBLIC_URL.',
    schema: z.string().min(1).max(256),
  },
  {
    name: 'JWT_AUDIENCE',
    default: 'wxauth',
    doc: '`aud` of access tokens, checked on every verification.',
    schema: z.string().min(1).max(256),
  },
  {
    name: 'JWT_CLOCK_TOLERANCE',
    default: '0',
    doc: 'Seconds of clock skew allowed when checking `exp`; 0: a token is refused from its `exp` second on.',
    schema: seconds(0).max(300),
  },
  {
    name: 'RATE_LIMIT_LOGIN_PER_IP',
    default: '30/60',
    doc: 'POST /auth/login per client address: `N/S` allows N requests per S seconds; `0` turns the limit off.',
    schema: rateLimit,
  },
  {
    name: 'RATE_LIMIT_REFRESH_PER_IP',
    default: '120/60',
    doc: 'POST /auth/refresh per client address (`N/S`, `0`: off).',
    schema: rateLimit,
  },
  {
    name: 'RATE_LIMIT_REFRESH_PER_USER',
    default: '30/60',
    doc: 'POST /auth/refresh per user, counting only refreshes the store accepted, so a forged token naming an openid counts for nobody (`N/S`, `0`: off).',
    schema: rateLimit,
  },
  {
    name: 'RATE_LIMIT_WECHAT_PER_IP',
    default: '120/60',
    doc: 'The /wechat/* routes per client address (`N/S`, `0`: off).',
    schema: rateLimit,
  },
  {
    name: 'RATE_LIMIT_WECHAT_PER_USER',
    default: '30/60',
    doc: 'The /wechat/* routes per openid (`N/S`, `0`: off).',
    schema: rateLimit,
  },
  {
    name: 'RATE_LIMIT_ENDINGS_PER_USER',
    default: '30/60',
    doc: "The routes that end sessions (POST /auth/logout, DELETE /auth/sessions/{id}, DELETE /auth/account), together, per user and session: each ending writes to Redis for every instance, and each of a user's sessions has its own count, so a session in other hands cannot use up the one whose logout everywhere would end it (`N/S`, `0`: off).",
    schema: rateLimit,
  },
  {
    name: 'RATE_LIMIT_QR_PER_IP',
    default: '10/60',
    doc: "POST /auth/qr (a web login's mini-program code, each one a call on WeChat's quota) per client address (`N/S`, `0`: off).",
    schema: rateLimit,
  },
  {
    name: 'RATE_LIMIT_QR_PER_APP',
    default: '600/60',
    doc: "POST /auth/qr for the whole app, beside the per-address limit: many addresses each under theirs cannot spend WeChat's per-app quota of codes (45009) for everyone (`N/S`, `0`: off).",
    schema: rateLimit,
  },
  {
    name: 'RATE_LIMIT_ADMIN_PER_IP',
    default: '600/60',
    doc: 'Missing or wrong admin keys per client address (`N/S`, `0`: off); past it, 429. Requests with a right key are never counted, so a flood of wrong keys cannot lock the operators out.',
    schema: rateLimit,
  },
  {
    name: 'BODY_LIMIT_BYTES',
    default: '131072',
    doc: 'Largest request body accepted; larger ones get 413.',
    schema: z.coerce.number().int().min(1024).max(10485760),
  },
  {
    name: 'TRUST_PROXY',
    default: 'false',
    doc: "Proxies in front that append to X-Forwarded-For: `false` (none: the socket address), `true` (one) or their number, up to 10. The client address is the entry the nearest of them added, the Nth from the right (as Express's `trust proxy` = N); one that is not an IP address falls back to the socket address.",
    // `0`/`1` read as they did when this was a boolean: no proxy, one proxy.
    schema: z
      .string()
      .regex(
        /^(true|false|\d|10)$/,
        'expected false, true (one proxy) or the number of proxies in front, 0 to 10',
      )
      .transform((v) => (v === 'true' ? 1 : v === 'false' ? 0 : Number(v))),
  },
  {
    name: 'SHUTDOWN_TIMEOUT_MS',
    default: '10000',
    doc: 'On SIGTERM, how long requests in flight may take before the process exits anyway.',
    schema: z.coerce.number().int().min(0).max(120000),
  },
  {
    name: 'WORKERS',
    default: 'none: one per core',
    doc: 'Worker processes `npm run start:workers` runs behind one port (node:cluster); `npm start` runs one process and ignores it.',
    schema: z.coerce.number().int().min(1).max(256),
  },
] as const satisfies readonly SettingSpec[];

export type SettingName = (typeof SETTINGS)[number]['name'];
