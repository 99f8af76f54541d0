/*
 * URL handling without the URL class, which the mini-program runtime does not have. It decides one
 * thing that matters: whether a request goes to the service, and so may carry the access token.
 * Anything it cannot read with certainty is treated as another host.
 */

const ABSOLUTE = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)([^?#]*)/;

interface Location {
  /** Scheme and authority, lower case, default port removed: `https://api.example.com`. */
  origin: string;
  /** Path with dot segments resolved and no trailing slash; '' for the root. */
  path: string;
}

export interface BaseUrl extends Location {
  /** The base URL as given, without a trailing slash, to append paths to. */
  href: string;
}

/** Reads `http(s)://host[:port][/path]`; throws TypeError for anything else (query, fragment, userinfo…). */
export function parseBaseUrl(baseUrl: string): BaseUrl {
  if (typeof baseUrl !== 'string' || /[?#]/.test(baseUrl)) throw badBase(baseUrl);
  const location = locate(baseUrl);
  if (location === undefined) throw badBase(baseUrl);
  return { ...location, href: baseUrl.replace(/\/+$/, '') };
}

/** A path starting with '/' goes under the base; anything else is taken as given. */
export function resolveUrl(base: BaseUrl, url: string): string {
  return url.startsWith('/') && !url.startsWith('//') ? base.href + url : url;
}

/**
 * True when `url` is the base or below it: the same scheme, host and port, and a path equal to the
 * base's or under it segment-wise (`/api` covers `/api/x`, not `/apix`). `https://api.example.com.evil.com`
 * does not match `https://api.example.com`, nor does `https://api.example.com@evil.com`.
 */
export function isUnderBase(base: BaseUrl, url: string): boolean {
  const location = locate(url);
  if (location === undefined || location.origin !== base.origin) return false;
  return base.path === '' || location.path === base.path || location.path.startsWith(`${base.path}/`);
}

function locate(url: string): Location | undefined {
  const match = ABSOLUTE.exec(url);
  if (match === null) return undefined;
  const scheme = match[1]!.toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return undefined;
  let authority = match[2]!.toLowerCase();
  // userinfo (`a@b`), a backslash (read as a slash by some parsers), spaces, %-escapes: not ours.
  if (authority === '' || /[@\\\s%]/.test(authority)) return undefined;
  const defaultPort = scheme === 'https' ? ':443' : ':80';
  if (authority.endsWith(defaultPort)) authority = authority.slice(0, -defaultPort.length);
  return { origin: `${scheme}://${authority}`, path: normalizePath(match[3]!) };
}

/** Resolves `.` and `..` segments (also written `%2e`, or with backslashes) as a server would. */
function normalizePath(path: string): string {
  const out: string[] = [];
  for (const raw of path.replace(/\\/g, '/').split('/')) {
    const segment = raw.replace(/%2e/gi, '.');
    if (segment === '' || segment === '.') continue;
    if (segment === '..') out.pop();
    else out.push(raw);
  }
  return out.length === 0 ? '' : `/${out.join('/')}`;
}

function badBase(baseUrl: unknown): TypeError {
  return new TypeError(
    `baseUrl must be an http(s) URL of the service, like https://api.example.com or https://example.com/wxauth, not ${JSON.stringify(baseUrl)}.`,
  );
}
