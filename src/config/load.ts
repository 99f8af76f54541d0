import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { parseAppsFile, type WechatApp } from './apps.js';
import { SETTINGS, type SettingName } from './schema.js';

export type Environment = 'development' | 'production' | 'test';

interface WechatCallSettings {
  timeoutMs: number;
  breakerThreshold: number;
  breakerCooldownMs: number;
  /** WECHAT_OPEN_BASE: WeChat's browser login pages (buildDeps uses the emulator's URL in emulator mode). */
  openBase: string;
}

/**
 * qrLoginAppid: the mini-program whose code a web login shows. With the emulator, QR_LOGIN_APPID as
 * given (undefined: the emulator's own); remote, a miniprogram app of `apps`, or '' when there is none
 * (then there is no web login by scanning).
 */
export type WechatSettings =
  | ({ mode: 'emulator'; qrLoginAppid: string | undefined } & WechatCallSettings)
  | ({
      mode: 'remote';
      apps: readonly WechatApp[];
      apiBase: string;
      qrLoginAppid: string;
    } & WechatCallSettings);

/** Undefined: that limit is off. */
export type RateLimit = { points: number; seconds: number } | undefined;

export interface RateLimitSettings {
  loginPerIp: RateLimit;
  refreshPerIp: RateLimit;
  refreshPerUser: RateLimit;
  wechatPerIp: RateLimit;
  wechatPerUser: RateLimit;
  endingsPerUser: RateLimit;
  qrPerIp: RateLimit;
  /** POST /auth/qr for the whole app (one counter for every address). */
  qrPerApp: RateLimit;
  adminPerIp: RateLimit;
}

interface RedisCommon {
  prefix: string;
  commandTimeoutMs: number;
}

export type RedisSettings =
  | ({ kind: 'memory' } & RedisCommon)
  | ({ kind: 'url'; url: string } & RedisCommon)
  | ({ kind: 'cluster'; nodes: string[] } & RedisCommon)
  | ({ kind: 'sentinel'; sentinels: string[]; name: string } & RedisCommon);

export interface Config {
  env: Environment;
  port: number;
  /** PUBLIC_URL without a trailing slash: the prefix of the discovery documents' URLs. */
  publicUrl: string;
  host: string | undefined;
  logLevel: string;
  wechat: WechatSettings;
  redis: RedisSettings;
  tokens: {
    accessTtlS: number;
    refreshTtlS: number;
    /** Undefined: no absolute limit. */
    refreshMaxLifetimeS: number | undefined;
    reuseGraceS: number;
    maxSessionsPerUser: number;
    issuer: string;
    audience: string;
    clockToleranceS: number;
    /** Undefined: an ephemeral key (never in production). */
    signingKeysFile: string | undefined;
  };
  /** trustProxy: how many proxies in front append to X-Forwarded-For; 0: none, the socket address is the client's. */
  http: { bodyLimitBytes: number; trustProxy: number; keepAliveTimeoutMs: number };
  /** port: a listener of its own (METRICS_PORT); onPublicPort: /metrics on PORT too. */
  metrics: { port: number | undefined; host: string; onPublicPort: boolean };
  /**
   * Undefined: no admin API. `keys`: as given (plain, or `sha256:<hex>`) without their `ro:`, digested
   * where they are checked (adminKeyDigest); readOnly: GET routes only.
   */
  admin: { keys: readonly AdminKeySetting[]; port: number; host: string } | undefined;
  rateLimits: RateLimitSettings;
  loginRetryWindowS: number;
  /** Web login by scanning a mini-program code: the page it opens, the ticket's life, the version. */
  webLogin: { page: string; ttlS: number; envVersion: 'release' | 'trial' | 'develop' };
  /** The raw `kid:key,…` list (parsed where the cipher is made); undefined: session_keys in clear. */
  sessionKeyEncryptionKeys: string | undefined;
  shutdownTimeoutMs: number;
  /** For `npm run start:workers` only; undefined: one worker per core. */
  workers: number | undefined;
}

export interface AdminKeySetting {
  key: string;
  readOnly: boolean;
}

/** Start-up stops with this; its message is one line naming the settings at fault. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** What a setting's schema parses its text to. */
type SettingValue<N extends SettingName> = z.output<
  Extract<(typeof SETTINGS)[number], { name: N }>['schema']
>;

const DEFAULTS: Partial<Record<SettingName, string>> = Object.fromEntries(
  SETTINGS.filter((s) => !s.default.startsWith('none')).map((s) => [s.name, s.default]),
);

/** The settings that make a configuration real: beside any of them, the emulator is only run on request. */
const REAL_PARTS = [
  'REDIS_URL',
  'REDIS_CLUSTER_NODES',
  'REDIS_SENTINELS',
  'JWT_SIGNING_KEYS_FILE',
  'SESSION_KEY_ENCRYPTION_KEYS',
] as const satisfies readonly SettingName[];

/** Reads and validates every setting once. Pure: takes the environment, returns a frozen Config. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const problems: string[] = [];
  const values = new Map<SettingName, unknown>();
  for (const setting of SETTINGS) {
    const raw = env[setting.name]?.trim();
    const given = raw === undefined || raw === '' ? DEFAULTS[setting.name] : raw;
    if (given === undefined) continue;
    const parsed = setting.schema.safeParse(given);
    if (parsed.success) values.set(setting.name, parsed.data);
    else problems.push(`${setting.name} is invalid (${parsed.error.issues[0]?.message ?? 'bad value'})`);
  }
  if (problems.length > 0) throw new ConfigError(problems.join('; '));

  // Each value has the type its schema in the settings table parses to.
  const get = <N extends SettingName>(name: N) => values.get(name) as SettingValue<N>;
  const has = (name: SettingName) => values.has(name) && env[name]?.trim();
  const nodeEnv = get('NODE_ENV');
  const production = nodeEnv === 'production';

  const emulatorAsked = values.has('WECHAT_EMULATOR') ? get('WECHAT_EMULATOR') : undefined;
  // Before the list of what is missing: that list would send the operator to WECHAT_APPID alone.
  if (production && emulatorAsked === true) {
    throw new ConfigError(
      'WECHAT_EMULATOR=1 is refused when NODE_ENV=production: set WECHAT_APPID and WECHAT_SECRET, or WECHAT_APPS_FILE',
    );
  }
  // Two sources of apps would leave one of them silently unused.
  const legacy = (['WECHAT_APPID', 'WECHAT_SECRET'] as const).filter((n) => has(n));
  const appsFile = Boolean(has('WECHAT_APPS_FILE'));
  if (appsFile && legacy.length > 0) {
    throw new ConfigError(
      `${legacy.join(' and ')} and WECHAT_APPS_FILE are exclusive: list the mini-program in the apps file instead`,
    );
  }

  const missing: string[] = [];
  if (production) {
    if (!appsFile && legacy.length === 0)
      missing.push('WECHAT_APPID and WECHAT_SECRET (or WECHAT_APPS_FILE)');
    else if (!appsFile && !has('WECHAT_APPID')) missing.push('WECHAT_APPID');
    else if (!appsFile && !has('WECHAT_SECRET')) missing.push('WECHAT_SECRET');
    for (const name of ['JWT_SIGNING_KEYS_FILE', 'SESSION_KEY_ENCRYPTION_KEYS', 'PUBLIC_URL'] as const) {
      if (!has(name)) missing.push(name);
    }
    if (!has('REDIS_URL') && !has('REDIS_CLUSTER_NODES') && !has('REDIS_SENTINELS')) {
      missing.push('REDIS_URL (or REDIS_CLUSTER_NODES or REDIS_SENTINELS)');
    }
  }
  if (missing.length > 0) {
    throw new ConfigError(
      `${missing.join(', ')} ${missing.length === 1 && !missing[0]?.includes(' and ') ? 'is' : 'are'} required when NODE_ENV=production`,
    );
  }

  // Tokens name it as their issuer and verifiers fetch keys under it: in production, only over TLS.
  if (production && !get('PUBLIC_URL').startsWith('https://'))
    throw new ConfigError('PUBLIC_URL must be an https:// URL when NODE_ENV=production');
  const publicUrl = has('PUBLIC_URL') ? get('PUBLIC_URL') : `http://localhost:${get('PORT')}`;

  if (Boolean(has('WECHAT_APPID')) !== Boolean(has('WECHAT_SECRET'))) {
    throw new ConfigError(
      `${has('WECHAT_APPID') ? 'WECHAT_SECRET' : 'WECHAT_APPID'} is required when the other WeChat credential is set`,
    );
  }
  if (has('WECHAT_API_BASE') && !has('WECHAT_APPID') && !appsFile) {
    throw new ConfigError(
      'WECHAT_APPID and WECHAT_SECRET (or WECHAT_APPS_FILE) are required when WECHAT_API_BASE is set',
    );
  }
  const redisChoices = (['REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS'] as const).filter((n) =>
    has(n),
  );
  if (redisChoices.length > 1)
    throw new ConfigError(`${redisChoices.join(' and ')} are exclusive: set only one`);
  if (Boolean(has('REDIS_SENTINELS')) !== Boolean(has('REDIS_SENTINEL_NAME'))) {
    throw new ConfigError(
      `${has('REDIS_SENTINELS') ? 'REDIS_SENTINEL_NAME' : 'REDIS_SENTINELS'} is required with the other Sentinel setting`,
    );
  }

  const credentials = Boolean(has('WECHAT_APPID')) || appsFile;
  if (emulatorAsked === true && credentials) {
    throw new ConfigError(
      `WECHAT_EMULATOR=1 and ${appsFile ? 'WECHAT_APPS_FILE' : 'WECHAT_APPID/WECHAT_SECRET'} are exclusive: the built-in emulator or WeChat`,
    );
  }
  // The emulator answers any code with any openid: beside a real store or real keys, a missing
  // credential is a mistake that would let anyone log in as anyone, so it stops start-up instead.
  if (!credentials && emulatorAsked !== true) {
    const real = REAL_PARTS.filter((name) => has(name));
    if (real.length > 0 || emulatorAsked === false) {
      const why =
        real.length > 0
          ? `with ${real.join(', ')} set (the built-in emulator runs only when nothing real is configured; WECHAT_EMULATOR=1 asks for it anyway, outside production)`
          : 'when WECHAT_EMULATOR=0';
      throw new ConfigError(`WECHAT_APPID and WECHAT_SECRET (or WECHAT_APPS_FILE) are required ${why}`);
    }
  }

  const calls: WechatCallSettings = {
    timeoutMs: get('WECHAT_TIMEOUT_MS'),
    breakerThreshold: get('WECHAT_BREAKER_THRESHOLD'),
    breakerCooldownMs: get('WECHAT_BREAKER_COOLDOWN_MS'),
    openBase: get('WECHAT_OPEN_BASE'),
  };
  const qrAsked = values.has('QR_LOGIN_APPID') ? get('QR_LOGIN_APPID') : undefined;
  let wechat: WechatSettings;
  if (credentials) {
    const apps: WechatApp[] = appsFile
      ? readAppsFile(get('WECHAT_APPS_FILE'), { env, defaultAudience: get('JWT_AUDIENCE'), production })
      : [
          {
            appid: get('WECHAT_APPID'),
            kind: 'miniprogram',
            secret: get('WECHAT_SECRET'),
            name: get('WECHAT_APPID'),
            audience: [get('JWT_AUDIENCE')],
            claims: [],
            redirectUris: [],
          },
        ];
    wechat = {
      mode: 'remote',
      apps,
      apiBase: get('WECHAT_API_BASE'),
      qrLoginAppid: qrLoginAppid(apps, qrAsked),
      ...calls,
    };
  } else {
    wechat = { mode: 'emulator', qrLoginAppid: qrAsked, ...calls };
  }

  const common: RedisCommon = {
    prefix: get('REDIS_KEY_PREFIX'),
    commandTimeoutMs: get('REDIS_COMMAND_TIMEOUT_MS'),
  };
  const redis: RedisSettings = has('REDIS_URL')
    ? { kind: 'url', url: get('REDIS_URL'), ...common }
    : has('REDIS_CLUSTER_NODES')
      ? { kind: 'cluster', nodes: get('REDIS_CLUSTER_NODES'), ...common }
      : has('REDIS_SENTINELS')
        ? { kind: 'sentinel', sentinels: get('REDIS_SENTINELS'), name: get('REDIS_SENTINEL_NAME'), ...common }
        : { kind: 'memory', ...common };

  const maxLifetime = get('REFRESH_TOKEN_MAX_LIFETIME');
  const config: Config = {
    env: nodeEnv,
    port: get('PORT'),
    publicUrl,
    // Zero-config (the emulator) is a development mode: not reachable from the network unless asked.
    host: values.has('HOST') ? get('HOST') : wechat.mode === 'emulator' ? '127.0.0.1' : undefined,
    logLevel: get('LOG_LEVEL'),
    wechat,
    redis,
    tokens: {
      accessTtlS: get('ACCESS_TOKEN_TTL'),
      refreshTtlS: get('REFRESH_TOKEN_TTL'),
      refreshMaxLifetimeS: maxLifetime > 0 ? maxLifetime : undefined,
      reuseGraceS: get('REFRESH_REUSE_GRACE'),
      maxSessionsPerUser: get('MAX_SESSIONS_PER_USER'),
      issuer: has('JWT_ISSUER') ? get('JWT_ISSUER') : publicUrl,
      audience: get('JWT_AUDIENCE'),
      clockToleranceS: get('JWT_CLOCK_TOLERANCE'),
      signingKeysFile: values.has('JWT_SIGNING_KEYS_FILE') ? get('JWT_SIGNING_KEYS_FILE') : undefined,
    },
    http: {
      bodyLimitBytes: get('BODY_LIMIT_BYTES'),
      trustProxy: get('TRUST_PROXY'),
      keepAliveTimeoutMs: get('HTTP_KEEP_ALIVE_TIMEOUT_MS'),
    },
    metrics: metricsSettings(
      values.has('METRICS_PORT') ? get('METRICS_PORT') : undefined,
      values.has('METRICS_PUBLIC') ? get('METRICS_PUBLIC') : undefined,
      { host: get('METRICS_HOST'), production },
    ),
    admin: adminSettings(values.has('ADMIN_API_KEYS') ? get('ADMIN_API_KEYS') : undefined, {
      port: values.has('ADMIN_PORT') ? get('ADMIN_PORT') : undefined,
      host: get('ADMIN_HOST'),
      publicPort: get('PORT'),
      metricsPort: values.has('METRICS_PORT') ? get('METRICS_PORT') : undefined,
    }),
    rateLimits: {
      loginPerIp: get('RATE_LIMIT_LOGIN_PER_IP'),
      refreshPerIp: get('RATE_LIMIT_REFRESH_PER_IP'),
      refreshPerUser: get('RATE_LIMIT_REFRESH_PER_USER'),
      wechatPerIp: get('RATE_LIMIT_WECHAT_PER_IP'),
      wechatPerUser: get('RATE_LIMIT_WECHAT_PER_USER'),
      endingsPerUser: get('RATE_LIMIT_ENDINGS_PER_USER'),
      qrPerIp: get('RATE_LIMIT_QR_PER_IP'),
      qrPerApp: get('RATE_LIMIT_QR_PER_APP'),
      adminPerIp: get('RATE_LIMIT_ADMIN_PER_IP'),
    },
    loginRetryWindowS: get('LOGIN_RETRY_WINDOW'),
    webLogin: {
      page: get('QR_LOGIN_PAGE'),
      ttlS: get('QR_LOGIN_TTL'),
      envVersion: get('QR_LOGIN_ENV_VERSION'),
    },
    sessionKeyEncryptionKeys: values.has('SESSION_KEY_ENCRYPTION_KEYS')
      ? get('SESSION_KEY_ENCRYPTION_KEYS')
      : undefined,
    shutdownTimeoutMs: get('SHUTDOWN_TIMEOUT_MS'),
    workers: values.has('WORKERS') ? get('WORKERS') : undefined,
  };
  if (
    config.tokens.refreshMaxLifetimeS !== undefined &&
    config.tokens.refreshMaxLifetimeS < config.tokens.accessTtlS
  ) {
    throw new ConfigError('REFRESH_TOKEN_MAX_LIFETIME must be 0 or at least ACCESS_TOKEN_TTL');
  }
  return deepFreeze(config);
}

/** The apps of WECHAT_APPS_FILE; read here, once, since loadConfig runs once at start-up. */
function readAppsFile(path: string, context: Parameters<typeof parseAppsFile>[1]): WechatApp[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code;
    throw new ConfigError(`WECHAT_APPS_FILE: cannot read ${path} (${reason ?? (error as Error).message})`);
  }
  const { apps, problems } = parseAppsFile(text, context);
  if (!apps) throw new ConfigError(problems.map((p) => `WECHAT_APPS_FILE: ${p}`).join('; '));
  return apps;
}

/** QR_LOGIN_APPID must be a configured mini-program: a code of any other app opens nothing. */
function qrLoginAppid(apps: readonly WechatApp[], asked: string | undefined): string {
  const miniprograms = apps.filter((app) => app.kind === 'miniprogram');
  if (asked === undefined) return miniprograms[0]?.appid ?? '';
  const named = apps.find((app) => app.appid === asked);
  if (!named) throw new ConfigError(`QR_LOGIN_APPID names ${asked}, which is not a configured app`);
  if (named.kind !== 'miniprogram') {
    throw new ConfigError(`QR_LOGIN_APPID names ${asked}, a ${named.kind} app: it must be a miniprogram app`);
  }
  return asked;
}

/**
 * /metrics tells whoever reads it the traffic, error rates and user counts: on the public port, which
 * the internet reaches in production, only when asked for.
 */
function metricsSettings(
  port: number | undefined,
  asked: boolean | undefined,
  at: { host: string; production: boolean },
): Config['metrics'] {
  if (port !== undefined && asked === true) {
    throw new ConfigError(
      'METRICS_PUBLIC=1 and METRICS_PORT are exclusive: /metrics on PORT or on its own port',
    );
  }
  return { port, host: at.host, onPublicPort: port === undefined && (asked ?? !at.production) };
}

/** The admin listener exists only with keys, and never shares a port with the public or metrics one. */
function adminSettings(
  keys: AdminKeySetting[] | undefined,
  at: { port: number | undefined; host: string; publicPort: number; metricsPort: number | undefined },
): Config['admin'] {
  if (keys === undefined) return undefined;
  // One key both read-only and not would be whichever the check came to first.
  if (new Set(keys.map(({ key }) => adminKeyDigest(key).toString('hex'))).size !== keys.length) {
    throw new ConfigError(
      'ADMIN_API_KEYS is invalid (a key is listed twice: as itself, as its sha256: digest, or with and without ro:)',
    );
  }
  if (at.port === undefined) throw new ConfigError('ADMIN_PORT is required when ADMIN_API_KEYS is set');
  if (at.port !== 0 && (at.port === at.publicPort || at.port === at.metricsPort)) {
    throw new ConfigError(
      'ADMIN_PORT must differ from PORT and METRICS_PORT: the admin API has a listener of its own',
    );
  }
  return { keys, port: at.port, host: at.host };
}

/** An admin key as it is compared: its SHA-256; a key given as `sha256:<hex>` is that digest. */
export function adminKeyDigest(key: string): Buffer {
  return key.startsWith('sha256:')
    ? Buffer.from(key.slice('sha256:'.length), 'hex')
    : createHash('sha256').update(key, 'utf8').digest();
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
