import { AuthError } from './errors.js';
import {
  challengeOf,
  checkIdToken,
  type Discovery,
  type IdTokenClaims,
  isDiscovery,
  isPending,
  PENDING_MAX_AGE_MS,
  PENDING_PREFIX,
  type PendingRedirect,
  randomText,
} from './redirect.js';

/** The part of the Web Storage API the SDK uses: sessionStorage and localStorage are two. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface WebAuthOptions {
  /**
   * The service's base URL, e.g. `https://api.example.com` or `https://example.com/wxauth`: only requests
   * under it carry the access token.
   */
  baseUrl: string;
  /**
   * Where the refresh token is kept (the access token never leaves memory). Default `sessionStorage`:
   * the login survives a reload of the tab and ends with it. `localStorage` keeps it across tabs and
   * restarts, for as long as the refresh token lives; `null` keeps it in memory only (a reload logs out).
   */
  storage?: StorageLike | null;
  /** The storage key. Default `wxauth:web-session`. */
  storageKey?: string;
  /** Default: the global fetch. */
  fetch?: typeof fetch;
  /** Epoch milliseconds. Default `Date.now`. */
  clock?: { now(): number };
  /** Refresh this many seconds before the access token expires (at most half its life). Default 60. */
  refreshBeforeExpirySeconds?: number;
  /**
   * loginWithRedirect(): the URL whose `/.well-known/openid-configuration` names the authorization and
   * token endpoints and the ID tokens' issuer. Default `baseUrl`.
   */
  issuer?: string;
  /**
   * loginWithRedirect(): where the PKCE verifier, state and nonce wait for the browser to come back.
   * Default `sessionStorage`, which outlives the trip through WeChat in the same tab and no longer.
   */
  redirectStorage?: StorageLike | null;
  /** loginWithRedirect(): how the page goes to the authorization endpoint. Default `location.assign`. */
  navigate?: (url: string) => void;
}

export interface RedirectLoginOptions {
  /** The official account's or website's appid. */
  clientId: string;
  /** One of the app's `redirect_uris` exactly: the page that calls handleRedirectCallback(). */
  redirectUri: string;
  /**
   * Space-separated; `openid` is always sent. `snsapi_userinfo` (an official account) asks WeChat's
   * consent page for the unionid. Default `openid`.
   */
  scope?: string;
  /** More parameters of the authorization request; the flow's own (state, nonce, PKCE…) cannot be set. */
  extra?: Record<string, string>;
}

export interface RedirectLoginResult {
  session: WebSession;
  /** The ID token's claims, checked (iss, aud, exp, nonce; not its signature: see docs/sdks.md). */
  idTokenClaims: IdTokenClaims;
}

/** Who is logged in (the tokens stay inside the SDK). */
export interface WebSession {
  openid: string;
  unionid?: string;
}

export type QrLoginStatus = 'pending' | 'scanned' | 'confirmed' | 'canceled' | 'expired';

export type QrLoginResult =
  | { status: 'confirmed'; session: WebSession }
  /** Ended without a login: show a new code (startQrLogin() again). */
  | { status: 'canceled' | 'expired' };

/** A web login under way: its code to show, and the wait for the phone. */
export interface QrLogin {
  readonly ticket: string;
  /** The mini-program code as a data: URL, for an `<img>`'s src. */
  readonly image: string;
  /**
   * Two digits to show beside the code: the phone asks the user to pick them from three, and a wrong
   * pick ends the code (number matching against a code relayed from someone else's screen).
   */
  readonly match: string;
  /** When the code stops working, epoch milliseconds of the SDK's clock. */
  readonly expiresAt: number;
  /**
   * Long-polls the service until the user confirmed on the phone (the SDK then keeps the tokens of the
   * new session), declined, or the code expired. `onStatus` hears each change ('scanned': the code was
   * scanned, ask the user to confirm on the phone). A network failure or an unavailable service is
   * waited out until the code expires. Rejects with the signal's reason when it aborts.
   */
  wait(options?: { onStatus?(status: QrLoginStatus): void; signal?: AbortSignal }): Promise<QrLoginResult>;
}

export interface WebAuth {
  readonly baseUrl: string;
  /** A new web login: POST /auth/qr. Show `image`, then `wait()`. */
  startQrLogin(): Promise<QrLogin>;
  /**
   * fetch with the access token attached when the URL is under baseUrl (never otherwise): a path
   * starting with '/' is taken under it. Refreshes an expiring token first, and a refused one (401
   * invalid_token) once, sending again. Rejects with `login_required` when there is no session.
   */
  fetch(input: string, init?: RequestInit): Promise<Response>;
  /** Ends this session at the service (or with `all`, every session of the user) and forgets it here. */
  logout(options?: { all?: boolean }): Promise<void>;
  /** The session kept, without any call; null when logged out. */
  session(): WebSession | null;
  /**
   * Sends the browser to the service's authorization endpoint (WeChat's QR page for a website, its
   * consent page for an official account inside WeChat) with PKCE S256, a random state and nonce, which
   * wait in `redirectStorage` under the state. Resolves once the navigation was asked for.
   */
  loginWithRedirect(options: RedirectLoginOptions): Promise<void>;
  /**
   * On the redirect URI's page: checks the state (one this tab started, used once), takes an error
   * back as `AuthError` (`access_denied` when the person refused), redeems the code at the token
   * endpoint, checks the ID token and keeps the session as a web login's. Default URL: `location.href`.
   */
  handleRedirectCallback(url?: string): Promise<RedirectLoginResult>;
}

export const DEFAULT_STORAGE_KEY = 'wxauth:web-session';

/** What storage keeps: never the access token, which lives in memory only. */
interface Stored {
  v: 1;
  refreshToken: string;
  openid: string;
  unionid?: string;
  refreshExpiresAt: number;
}

interface Access {
  token: string;
  /** The refresh token it came with, so that a rotation by another tab is noticed. */
  refreshToken: string;
  refreshAt: number;
}

/** The long poll's wait, seconds: the service waits at most 25. */
const POLL_WAIT_S = 25;
const RETRY_MAX_MS = 5000;
/** How long after a confirm the service keeps a ticket for its website to collect, at least, ms. */
const COLLECT_GRACE_MS = 30_000;
const RATE_LIMIT_WAIT_MAX_S = 60;

/**
 * The website's side of wxauth: a web login by scanning a mini-program code, then its tokens, attached
 * and refreshed like the mini-program client does. No framework, nothing but fetch and Web Storage.
 */
export function createWebAuth(options: WebAuthOptions): WebAuth {
  const base = parseBase(options.baseUrl);
  const send: typeof fetch = options.fetch ?? ((...args) => fetch(...args));
  const clock = options.clock ?? { now: () => Date.now() };
  const storage = options.storage === undefined ? defaultStorage() : options.storage;
  const key = options.storageKey ?? DEFAULT_STORAGE_KEY;
  const leewayMs = Math.max(0, options.refreshBeforeExpirySeconds ?? 60) * 1000;
  let memory: Stored | null = null;
  let access: Access | null = null;
  let refreshing: Promise<Access | null> | undefined;
  const issuer = parseBase(options.issuer ?? options.baseUrl).href;
  const pendingStorage = options.redirectStorage === undefined ? defaultStorage() : options.redirectStorage;
  const navigate = options.navigate ?? ((url: string) => pageLocation().assign(url));
  let discovered: Promise<Discovery> | undefined;

  /** The discovery document, fetched once (again after a failure). */
  function discovery(): Promise<Discovery> {
    discovered ??= (async () => {
      const url = `${issuer}/.well-known/openid-configuration`;
      let response: Response;
      try {
        response = await send(url, { headers: { accept: 'application/json' } });
      } catch (error) {
        throw new AuthError('network_error', `${url} could not be reached: ${(error as Error).message}`, {
          cause: error,
        });
      }
      const body = await bodyOf(response);
      if (response.status !== 200 || !isDiscovery(body))
        throw new AuthError('invalid_response', `${url} answered no discovery document.`, {
          status: response.status,
        });
      return body;
    })();
    discovered.catch(() => {
      discovered = undefined;
    });
    return discovered;
  }

  /** The pending request of `state`, removed: a state is good once. */
  function takePending(state: string): PendingRedirect | null {
    if (pendingStorage === null) return null;
    const key = PENDING_PREFIX + state;
    let value: unknown = null;
    try {
      value = JSON.parse(pendingStorage.getItem(key) ?? 'null');
      pendingStorage.removeItem(key);
    } catch {
      // Unreadable: no pending request.
    }
    return isPending(value) ? value : null;
  }

  function load(): Stored | null {
    if (storage === null) return memory;
    try {
      const parsed = JSON.parse(storage.getItem(key) ?? 'null') as Stored | null;
      memory = isStored(parsed) ? parsed : null;
    } catch {
      // Unreadable or blocked storage: memory is the truth.
    }
    return memory;
  }

  function save(stored: Stored | null): void {
    memory = stored;
    if (storage === null) return;
    try {
      if (stored === null) storage.removeItem(key);
      else storage.setItem(key, JSON.stringify(stored));
    } catch {
      // Full or blocked: the session lives in memory until the page goes.
    }
  }

  /** Keeps a token response; times count from when the request was sent. */
  function keep(body: Record<string, unknown> | undefined, sentAt: number, what: string): Access {
    if (
      typeof body?.access_token !== 'string' ||
      typeof body.refresh_token !== 'string' ||
      typeof body.openid !== 'string' ||
      typeof body.expires_in !== 'number' ||
      typeof body.refresh_expires_in !== 'number'
    ) {
      throw new AuthError('invalid_response', `${what} answered without a token response.`);
    }
    const lifetimeMs = body.expires_in * 1000;
    save({
      v: 1,
      refreshToken: body.refresh_token,
      openid: body.openid,
      ...(typeof body.unionid === 'string' ? { unionid: body.unionid } : {}),
      refreshExpiresAt: sentAt + body.refresh_expires_in * 1000,
    });
    access = {
      token: body.access_token,
      refreshToken: body.refresh_token,
      refreshAt: sentAt + Math.max(lifetimeMs - leewayMs, lifetimeMs / 2),
    };
    return access;
  }

  async function post(path: string, body: unknown, init: RequestInit = {}): Promise<Response> {
    try {
      return await send(base.href + path, {
        ...init,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
        body: JSON.stringify(body),
      });
    } catch (error) {
      if (init.signal?.aborted) throw init.signal.reason;
      throw new AuthError('network_error', `${path} could not be reached: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  /** One refresh at a time; null when the refresh token was refused (the session is over). */
  function refresh(): Promise<Access | null> {
    refreshing ??= (async () => {
      for (let attempt = 1; ; attempt += 1) {
        const stored = load();
        if (stored === null) return null;
        if (clock.now() >= stored.refreshExpiresAt) {
          save(null);
          return null;
        }
        const sentAt = clock.now();
        const response = await post('/auth/refresh', { refresh_token: stored.refreshToken });
        const body = await bodyOf(response);
        if (response.status === 200) return keep(body, sentAt, 'POST /auth/refresh');
        if (response.status === 400 && body?.error === 'invalid_grant') {
          // Another tab sharing localStorage rotated it meanwhile: its successor is worth a try.
          if (load()?.refreshToken !== stored.refreshToken && attempt === 1) continue;
          save(null);
          access = null;
          return null;
        }
        if (response.status === 429 && attempt === 1) {
          await sleep(Math.min(retryAfterOf(response) ?? 1, RATE_LIMIT_WAIT_MAX_S) * 1000);
          continue;
        }
        throw serviceError(response, body, 'POST /auth/refresh');
      }
    })().finally(() => {
      refreshing = undefined;
    });
    return refreshing;
  }

  /** The access token to send: the one in memory while fresh (and of the stored login), else a refresh. */
  async function current(): Promise<Access | null> {
    const stored = load();
    if (stored === null) return null;
    if (access !== null && access.refreshToken === stored.refreshToken && clock.now() < access.refreshAt) {
      return access;
    }
    return refresh();
  }

  function withToken(init: RequestInit, token: string): RequestInit {
    const headers = new Headers(init.headers);
    headers.set('Authorization', `Bearer ${token}`);
    return { ...init, headers };
  }

  async function pollOnce(
    ticket: string,
    pollToken: string,
    seen: QrLoginStatus,
    signal: AbortSignal | undefined,
  ): Promise<{ response: Response; body: Record<string, unknown> | undefined; sentAt: number }> {
    const sentAt = clock.now();
    const response = await post(
      `/auth/qr/${ticket}/poll`,
      { poll_token: pollToken, wait: POLL_WAIT_S, status: seen },
      signal === undefined ? {} : { signal },
    );
    return { response, body: await bodyOf(response), sentAt };
  }

  return {
    baseUrl: base.href,

    async startQrLogin() {
      const sentAt = clock.now();
      const response = await post('/auth/qr', {});
      const body = await bodyOf(response);
      if (response.status !== 200) throw serviceError(response, body, 'POST /auth/qr');
      const { ticket, poll_token: pollToken, expires_in: expiresIn, image, match } = body ?? {};
      if (
        typeof ticket !== 'string' ||
        typeof pollToken !== 'string' ||
        typeof expiresIn !== 'number' ||
        typeof image !== 'string' ||
        typeof match !== 'string'
      ) {
        throw new AuthError('invalid_response', 'POST /auth/qr answered without a ticket.');
      }
      const expiresAt = sentAt + expiresIn * 1000;
      const path = encodeURIComponent(ticket);
      return {
        ticket,
        image,
        match,
        expiresAt,
        async wait({ onStatus, signal } = {}) {
          let seen: QrLoginStatus = 'pending';
          for (let failures = 0; ; ) {
            if (signal?.aborted) throw signal.reason;
            let polled: Awaited<ReturnType<typeof pollOnce>> | undefined;
            try {
              polled = await pollOnce(path, pollToken, seen, signal);
            } catch (error) {
              if (signal?.aborted) throw signal.reason;
              if (!(error instanceof AuthError && error.code === 'network_error')) throw error;
            }
            const status = polled?.body?.status;
            if (polled?.response.status === 200 && typeof status === 'string') {
              failures = 0;
              if (status === 'confirmed') {
                keep(polled.body, polled.sentAt, 'POST /auth/qr/{ticket}/poll');
                onStatus?.('confirmed');
                return { status: 'confirmed', session: publicSession(load()!) };
              }
              if (status !== seen) onStatus?.(status as QrLoginStatus);
              if (status === 'canceled' || status === 'expired') return { status };
              seen = status as QrLoginStatus;
              continue;
            }
            // The ticket is gone, or its tokens went to an earlier poll more than 30 s ago: start again.
            // (An answer lost on its way is collected again by the next poll within those 30 s.)
            if (polled?.response.status === 400 && polled.body?.error === 'invalid_grant') {
              onStatus?.('expired');
              return { status: 'expired' };
            }
            const transient =
              polled === undefined || polled.response.status === 429 || polled.response.status >= 500;
            if (!transient) throw serviceError(polled!.response, polled!.body, 'POST /auth/qr/{ticket}/poll');
            // A confirm leaves the website COLLECT_GRACE_MS past the code's expiry to collect (the
            // service moves the ticket's expiry): retry until then, not only until `expiresAt`.
            if (clock.now() >= expiresAt + COLLECT_GRACE_MS) {
              onStatus?.('expired');
              return { status: 'expired' };
            }
            failures += 1;
            const retryAfter = polled === undefined ? undefined : retryAfterOf(polled.response);
            await sleep(
              retryAfter === undefined
                ? Math.min(500 * 2 ** failures, RETRY_MAX_MS)
                : Math.min(retryAfter, RATE_LIMIT_WAIT_MAX_S) * 1000,
              signal,
            );
          }
        },
      };
    },

    async fetch(input, init = {}) {
      const url = input.startsWith('/') && !input.startsWith('//') ? base.href + input : input;
      if (!isUnderBase(base, url)) return send(url, init);
      let token = await current();
      if (token === null) throw new AuthError('login_required', 'Not logged in: start a web login first.');
      const first = await send(url, withToken(init, token.token));
      if (!(await refusedToken(first))) return first;
      token = await refresh();
      if (token === null) throw new AuthError('login_required', 'The session ended: log in again.');
      return send(url, withToken(init, token.token));
    },

    async logout({ all = false } = {}) {
      const stored = load();
      try {
        const token = stored === null ? null : await current().catch(() => null);
        if (token !== null && stored !== null) {
          const response = await post(
            '/auth/logout',
            all ? { all: true } : { refresh_token: stored.refreshToken },
            {
              headers: { Authorization: `Bearer ${token.token}` },
            },
          );
          if (response.status !== 204)
            throw serviceError(response, await bodyOf(response), 'POST /auth/logout');
        }
      } finally {
        save(null);
        access = null;
      }
    },

    session() {
      const stored = load();
      return stored === null ? null : publicSession(stored);
    },

    async loginWithRedirect({ clientId, redirectUri, scope = 'openid', extra = {} }) {
      if (pendingStorage === null)
        throw new TypeError('loginWithRedirect() needs sessionStorage (or redirectStorage) to come back to.');
      for (const name of Object.keys(extra)) {
        if (FLOW_PARAMETERS.has(name)) throw new TypeError(`extra: ${name} is the SDK's to set.`);
      }
      const { authorization_endpoint: endpoint } = await discovery();
      const verifier = randomText(32);
      const state = randomText(32);
      const nonce = randomText(32);
      const scopes = scope.split(' ').filter(Boolean);
      if (!scopes.includes('openid')) scopes.unshift('openid');
      const pending: PendingRedirect = {
        v: 1,
        verifier,
        nonce,
        clientId,
        redirectUri,
        createdAt: clock.now(),
      };
      pendingStorage.setItem(PENDING_PREFIX + state, JSON.stringify(pending));
      const url = new URL(endpoint);
      const params = {
        ...extra,
        response_type: 'code',
        client_id: clientId,
        redirect_uri: redirectUri,
        scope: scopes.join(' '),
        state,
        nonce,
        code_challenge: await challengeOf(verifier),
        code_challenge_method: 'S256',
      };
      for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
      navigate(url.href);
    },

    async handleRedirectCallback(href = pageLocation().href) {
      const params = new URL(href).searchParams;
      const state = params.get('state');
      const pending = state === null ? null : takePending(state);
      if (pending === null || clock.now() - pending.createdAt > PENDING_MAX_AGE_MS)
        throw new AuthError(
          'invalid_state',
          'This sign-in was not started in this tab, was already completed, or is too old: start again.',
        );
      const error = params.get('error');
      if (error !== null)
        throw new AuthError(error, params.get('error_description') ?? `The sign-in ended with ${error}.`);
      const found = await discovery();
      // RFC 9207: an answer of another authorization server (a mix-up attack) is not redeemed here.
      const iss = params.get('iss');
      if (iss === null ? found.authorization_response_iss_parameter_supported === true : iss !== found.issuer)
        throw new AuthError('invalid_response', 'The sign-in was answered by another issuer.');
      const code = params.get('code');
      if (code === null) throw new AuthError('invalid_response', 'The redirect brought no code.');

      const sentAt = clock.now();
      let response: Response;
      try {
        response = await send(found.token_endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'authorization_code',
            code,
            redirect_uri: pending.redirectUri,
            client_id: pending.clientId,
            code_verifier: pending.verifier,
          }).toString(),
        });
      } catch (cause) {
        throw new AuthError(
          'network_error',
          `The token endpoint could not be reached: ${(cause as Error).message}`,
          {
            cause,
          },
        );
      }
      const body = await bodyOf(response);
      if (response.status !== 200) throw serviceError(response, body, 'The token endpoint');
      if (typeof body?.id_token !== 'string')
        throw new AuthError('invalid_id_token', 'The token endpoint answered without an ID token.');
      const idTokenClaims = checkIdToken(body.id_token, {
        issuer: found.issuer,
        clientId: pending.clientId,
        nonce: pending.nonce,
        nowMs: clock.now(),
      });
      // The ID token is for this page only: what is kept is the session, as a web login's.
      keep(body, sentAt, 'The token endpoint');
      return { session: publicSession(load()!), idTokenClaims };
    },
  };
}

/** The authorization request's parameters that loginWithRedirect() sets itself. */
const FLOW_PARAMETERS = new Set([
  'response_type',
  'client_id',
  'redirect_uri',
  'scope',
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
]);

/** The page's location (the SDK is also compiled without DOM types, by the service's tsconfig). */
function pageLocation(): { href: string; assign(url: string): void } {
  return (globalThis as unknown as { location: { href: string; assign(url: string): void } }).location;
}

function defaultStorage(): StorageLike | null {
  try {
    // Reading it throws where the page may not use storage (a sandboxed frame, blocked cookies).
    return (globalThis as { sessionStorage?: StorageLike }).sessionStorage ?? null;
  } catch {
    return null;
  }
}

function isStored(value: unknown): value is Stored {
  const s = value as Partial<Stored> | null;
  return (
    typeof s === 'object' &&
    s !== null &&
    s.v === 1 &&
    typeof s.refreshToken === 'string' &&
    typeof s.openid === 'string' &&
    typeof s.refreshExpiresAt === 'number' &&
    (s.unionid === undefined || typeof s.unionid === 'string')
  );
}

function publicSession(stored: Stored): WebSession {
  return stored.unionid === undefined
    ? { openid: stored.openid }
    : { openid: stored.openid, unionid: stored.unionid };
}

interface Base {
  href: string;
  origin: string;
  path: string;
}

function parseBase(baseUrl: string): Base {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new TypeError(`baseUrl must be an http(s) URL of the service, not ${JSON.stringify(baseUrl)}.`);
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.search || url.hash || url.username) {
    throw new TypeError(`baseUrl must be an http(s) URL without query, fragment or user, not ${baseUrl}.`);
  }
  const path = url.pathname.replace(/\/+$/, '');
  return { href: url.origin + path, origin: url.origin, path };
}

/** The same origin, and a path equal to the base's or under it segment-wise (`/api` covers `/api/x` only). */
function isUnderBase(base: Base, input: string): boolean {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return false;
  }
  if (url.origin !== base.origin) return false;
  return base.path === '' || url.pathname === base.path || url.pathname.startsWith(`${base.path}/`);
}

async function bodyOf(response: Response): Promise<Record<string, unknown> | undefined> {
  try {
    const value: unknown = await response.json();
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function retryAfterOf(response: Response): number | undefined {
  const seconds = Number(response.headers.get('retry-after') ?? Number.NaN);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : undefined;
}

/** A 401 the SDK repairs: the access token refused (the service's body, or RFC 6750's header alone). */
async function refusedToken(response: Response): Promise<boolean> {
  if (response.status !== 401) return false;
  if (/invalid_token/.test(response.headers.get('www-authenticate') ?? '')) return true;
  return (await bodyOf(response.clone()))?.error === 'invalid_token';
}

function serviceError(
  response: Response,
  body: Record<string, unknown> | undefined,
  what: string,
): AuthError {
  const retryAfter = retryAfterOf(response);
  const details = { status: response.status, ...(retryAfter === undefined ? {} : { retryAfter }) };
  if (typeof body?.error === 'string') {
    const description =
      typeof body.error_description === 'string' ? body.error_description : `${what} answered ${body.error}.`;
    return new AuthError(body.error, description, details);
  }
  return new AuthError('invalid_response', `${what} answered HTTP ${response.status}.`, details);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', abort);
      resolve();
    }
    function abort() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener('abort', abort, { once: true });
  });
}
