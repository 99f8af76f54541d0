/**
 * The WeChat apps one deployment serves (WECHAT_APPS_FILE, or WECHAT_APPID/WECHAT_SECRET as one
 * mini-program). An identity is an (appid, openid) pair; apps bound to one open-platform account give
 * the same person the same unionid, which is how wxauth links them into one person.
 */

/** How an app's people log in, and so which WeChat exchange its codes take. */
export type AppKind = 'miniprogram' | 'mobile' | 'official_account' | 'website';

export const APP_KINDS: readonly AppKind[] = ['miniprogram', 'mobile', 'official_account', 'website'];

/** Claims an app may ask to have put into its access tokens beside the openid. */
export type AppClaim = 'unionid';

export interface WechatApp {
  readonly appid: string;
  readonly kind: AppKind;
  /** Never logged, never answered. */
  readonly secret: string;
  /** What a person sees (the list of sessions, the confirm screen); default the appid. */
  readonly name: string;
  /** `aud` of this app's access tokens (the first is written when it is one, else the list). */
  readonly audience: readonly string[];
  readonly claims: readonly AppClaim[];
  /** official_account and website only: the exact URIs a browser login may return to. */
  readonly redirectUris: readonly string[];
}

/** WeChat's AppID shape: `wx` and 16 characters (hex in practice; letters and digits accepted). */
export const APPID_PATTERN = /^wx[0-9A-Za-z]{16}$/;

/** An AppSecret as WECHAT_SECRET takes it. */
export const SECRET_PATTERN = /^[A-Za-z0-9]{1,128}$/;

/**
 * The setting an app's secret comes from when the apps file leaves it out, so that file can be
 * committed: `WECHAT_SECRET_` and the appid in upper case (environment names are upper case by habit).
 */
export function secretSetting(appid: string): string {
  return `WECHAT_SECRET_${appid.toUpperCase()}`;
}

const FIELDS = ['appid', 'kind', 'secret', 'name', 'audience', 'claims', 'redirect_uris'] as const;
const CLAIMS: readonly AppClaim[] = ['unionid'];
/** The kinds whose people log in through a browser, and so the only ones that return to a URI. */
const BROWSER_KINDS: readonly AppKind[] = ['official_account', 'website'];
const LOOPBACK_HOSTS = ['localhost', '127.0.0.1'];

export interface AppsFileContext {
  /** Where `WECHAT_SECRET_<APPID>` is read (the same settings loadConfig is given). */
  env: Record<string, string | undefined>;
  /** JWT_AUDIENCE: the `aud` of an app that names none. */
  defaultAudience: string;
  /** http://localhost redirect URIs are for development only. */
  production: boolean;
}

/**
 * The apps of a WECHAT_APPS_FILE's text, or every mistake in it, each one line naming the app (by index
 * and appid) and the field. No line ever quotes a secret, nor any value but an appid.
 */
export function parseAppsFile(
  text: string,
  context: AppsFileContext,
): { apps: WechatApp[]; problems: [] } | { apps: undefined; problems: string[] } {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    return { apps: undefined, problems: [`not JSON${whereJsonFails(text, (error as Error).message)}`] };
  }
  if (!isObject(document) || !Array.isArray(document.apps)) {
    return { apps: undefined, problems: ['expected {"apps": [ … ]}'] };
  }
  const problems: string[] = [];
  const extra = Object.keys(document).filter((key) => key !== 'apps');
  if (extra.length > 0) problems.push(`unknown field ${extra.map(fieldName).join(', ')}`);
  if (document.apps.length === 0) problems.push('apps is empty: list at least one app');

  const apps: WechatApp[] = [];
  const seen = new Map<string, number>();
  document.apps.forEach((entry: unknown, index: number) => {
    const app = parseApp(entry, index, context, problems);
    if (!app) return;
    // Case-insensitively: two spellings of one appid would share one WECHAT_SECRET_<APPID>.
    const first = seen.get(app.appid.toLowerCase());
    if (first !== undefined) {
      problems.push(`apps[${index}] (${app.appid}): appid is listed twice (first as apps[${first}])`);
      return;
    }
    seen.set(app.appid.toLowerCase(), index);
    apps.push(app);
  });
  return problems.length > 0 ? { apps: undefined, problems } : { apps, problems: [] };
}

function parseApp(
  entry: unknown,
  index: number,
  { env, defaultAudience, production }: AppsFileContext,
  problems: string[],
): WechatApp | undefined {
  if (!isObject(entry)) {
    problems.push(`apps[${index}]: expected an object with appid and kind`);
    return undefined;
  }
  const appid = typeof entry.appid === 'string' && APPID_PATTERN.test(entry.appid) ? entry.appid : undefined;
  // Only an appid of the right shape is quoted: a secret pasted into that field stays unprinted.
  const at = `apps[${index}] (${appid ?? 'no valid appid'})`;
  const before = problems.length;
  const fault = (message: string) => problems.push(`${at}: ${message}`);

  const unknown = Object.keys(entry).filter((key) => !(FIELDS as readonly string[]).includes(key));
  for (const key of unknown) fault(`unknown field ${fieldName(key)}`);
  if (appid === undefined) {
    fault(
      entry.appid === undefined
        ? 'appid is required'
        : 'appid must be wx followed by 16 letters or digits, such as wx1234567890abcdef',
    );
  }

  const kind = entry.kind;
  const validKind = typeof kind === 'string' && (APP_KINDS as readonly string[]).includes(kind);
  if (!validKind) {
    fault(
      kind === undefined
        ? `kind is required (${APP_KINDS.join(', ')})`
        : `kind must be one of ${APP_KINDS.join(', ')}`,
    );
  }

  let secret: string | undefined;
  if (entry.secret !== undefined) {
    if (typeof entry.secret !== 'string' || !SECRET_PATTERN.test(entry.secret)) {
      fault('secret must be the AppSecret (1 to 128 letters and digits)');
    } else secret = entry.secret;
  } else if (appid !== undefined) {
    const name = secretSetting(appid);
    const value = env[name]?.trim();
    if (!value) fault(`secret is missing: set ${name} or give secret in the file`);
    else if (!SECRET_PATTERN.test(value))
      fault(`${name} must be the AppSecret (1 to 128 letters and digits)`);
    else secret = value;
  }

  let name = appid ?? '';
  if (entry.name !== undefined) {
    // Letters of any script (names are often Chinese), but no control or invisible formatting characters.
    if (typeof entry.name !== 'string' || !/^[^\p{C}]{1,64}$/u.test(entry.name) || !entry.name.trim()) {
      fault('name must be 1 to 64 printable characters');
    } else name = entry.name;
  }

  let audience: string[] = [defaultAudience];
  if (entry.audience !== undefined) {
    const list = typeof entry.audience === 'string' ? [entry.audience] : entry.audience;
    if (
      !Array.isArray(list) ||
      list.length === 0 ||
      !list.every((a) => typeof a === 'string' && a.length > 0 && a.length <= 256)
    ) {
      fault('audience must be a string or a non-empty list of strings, each 1 to 256 characters');
    } else audience = [...new Set(list as string[])];
  }

  let claims: AppClaim[] = [];
  if (entry.claims !== undefined) {
    const list = entry.claims;
    if (!Array.isArray(list) || !list.every((c) => (CLAIMS as readonly unknown[]).includes(c))) {
      fault(`claims must be a list of ${CLAIMS.map((c) => JSON.stringify(c)).join(', ')}`);
    } else claims = [...new Set(list as AppClaim[])];
  }

  let redirectUris: string[] = [];
  const browser = validKind && BROWSER_KINDS.includes(kind as AppKind);
  if (entry.redirect_uris !== undefined && validKind && !browser) {
    fault(`redirect_uris is only for ${BROWSER_KINDS.join(' and ')} apps`);
  } else if (browser) {
    const list = entry.redirect_uris;
    if (!Array.isArray(list) || list.length === 0) {
      fault(
        `redirect_uris is required for a ${kind} app: a non-empty list of the URIs a login may return to`,
      );
    } else {
      list.forEach((uri: unknown, i: number) => {
        const why = redirectUriFault(uri, production);
        if (why) fault(`redirect_uris[${i}] ${why}`);
      });
      const unique = new Set(list);
      if (unique.size !== list.length) fault('redirect_uris lists a URI twice');
      redirectUris = list as string[];
    }
  }

  if (problems.length > before || appid === undefined || !validKind || secret === undefined) return undefined;
  return { appid, kind: kind as AppKind, secret, name, audience, claims, redirectUris };
}

/** Why a redirect URI is refused, or undefined. Compared exactly later, so nothing here is a pattern. */
function redirectUriFault(uri: unknown, production: boolean): string | undefined {
  const shape = `must be an absolute https URL without a fragment${production ? '' : ' (http only for localhost or 127.0.0.1)'}`;
  if (typeof uri !== 'string' || uri.length > 2048 || /[\s#]/.test(uri)) return shape;
  if (uri.includes('*')) return 'must be an exact URI: wildcards (*) are not allowed';
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return shape;
  }
  // Userinfo is checked on the text too: `https://@host/` parses to an empty username.
  if (url.username || url.password || /^[a-z][a-z0-9+.-]*:\/\/[^/?]*@/i.test(uri)) {
    return 'must not carry a user or password (user@host)';
  }
  if (url.protocol === 'https:' && url.hostname) return undefined;
  if (url.protocol === 'http:' && LOOPBACK_HOSTS.includes(url.hostname)) {
    return production
      ? 'must be https when NODE_ENV=production (http://localhost is for development)'
      : undefined;
  }
  return shape;
}

/**
 * Where JSON.parse stopped, told without its own words: some of its messages quote the text around the
 * mistake, and that text may be a secret.
 */
function whereJsonFails(text: string, message: string): string {
  if (/end of JSON input/.test(message)) return ' (it ends too early)';
  const position = /at position (\d+)/.exec(message)?.[1];
  if (position === undefined) return '';
  const before = text.slice(0, Number(position)).split('\n');
  return ` (a mistake at line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1})`;
}

/** A typo's name, quoted; anything longer than a field name could be a value pasted as a key. */
function fieldName(key: string): string {
  return /^[A-Za-z_$][\w$-]{0,23}$/.test(key) ? JSON.stringify(key) : '(a key that is no field name)';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The configured apps, looked up by appid, with the roles some of them play. */
export interface AppDirectory {
  readonly all: readonly WechatApp[];
  get(appid: string): WechatApp | undefined;
  /**
   * The app of identities and access tokens written before several apps (no appid, no client_id): the
   * first mini-program, else the first app. Its WeChat access_token keeps the key it had then.
   */
  readonly legacy: WechatApp;
  /** The app of a login that names none: the only mini-program; undefined when there are several. */
  readonly soleMiniprogram: WechatApp | undefined;
  /** The mini-program whose codes web login by scanning draws; undefined: none configured. */
  readonly qrLogin: WechatApp | undefined;
  /** Every app's audience, once each: a Bearer route accepts a token carrying any of them. */
  readonly audiences: readonly string[];
}

export function appDirectory(apps: readonly WechatApp[], qrLoginAppid?: string): AppDirectory {
  if (apps.length === 0) throw new TypeError('appDirectory: no app');
  const byId = new Map(apps.map((app) => [app.appid, app]));
  const miniprograms = apps.filter((app) => app.kind === 'miniprogram');
  const qrLogin = qrLoginAppid ? byId.get(qrLoginAppid) : miniprograms[0];
  return {
    all: apps,
    get: (appid) => byId.get(appid),
    legacy: miniprograms[0] ?? apps[0]!,
    soleMiniprogram: miniprograms.length === 1 ? miniprograms[0] : undefined,
    qrLogin: qrLogin?.kind === 'miniprogram' ? qrLogin : undefined,
    audiences: [...new Set(apps.flatMap((app) => app.audience))],
  };
}
