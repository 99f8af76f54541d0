/**
 * Getting a session to send with: the stored one while fresh, else one refresh shared by every
 * concurrent caller, else one login shared the same way.
 */
import { type Calls, errorCodeOf, headerOf, objectOf, serviceError } from './calls.js';
import { AuthError, DecryptFailedError } from './errors.js';
import { singleFlight } from './single-flight.js';
import type { SessionStorage, StoredSession } from './storage.js';
import type { AuthClientOptions } from './types.js';
import { type WxApi, type WxResponse, wxAppId, wxDevice, wxLogin, wxRequest } from './wx.js';

/**
 * How far a renewal may go when the access token is missing, expiring or refused:
 * - may-login: refresh, else wx.login() and a new session;
 * - open-data: refresh, else log in to repair the session but send nothing (the button's data was
 *   encrypted with the session_key before that login: it is DecryptFailedError, ask again);
 * - never-login: refresh, else give up quietly (logout has nothing left to end).
 */
export type Renewal = 'may-login' | 'open-data' | 'never-login';
/** The renewals that always end with a session (or throw). */
export type LoggingIn = Exclude<Renewal, 'never-login'>;

export const ASK_AGAIN =
  'The service could not decrypt the data with the session_key it holds (WeChat rotated it, or the session ended). A new login was made: ask the user again and send the new e.detail.';
const ASK_AGAIN_UNSENT =
  'The session had ended, and the login that renews it may change the session_key the data was encrypted with, so the data was not sent. A new login was made: ask the user again and send the new e.detail.';

export type Renewals = ReturnType<typeof createRenewal>;

export function createRenewal(
  options: Pick<AuthClientOptions, 'device' | 'refreshBeforeExpirySeconds'>,
  parts: { api: WxApi; storage: SessionStorage; clock: { now(): number }; calls: Calls },
) {
  const { api, storage, clock, calls } = parts;
  const leewayMs = Math.max(0, options.refreshBeforeExpirySeconds ?? 60) * 1000;
  let device: string | undefined;
  let deviceKnown = false;
  let appid: string | undefined;
  let appidKnown = false;

  /** Asked of wx once, on the first login. */
  function deviceOf(): string | undefined {
    if (!deviceKnown) {
      device = options.device === false ? undefined : (options.device ?? wxDevice(api));
      deviceKnown = true;
    }
    return device;
  }

  /** Asked of wx once, on the first login: the body of every login, the device aside. */
  function loginBody(code: string): { code: string; appid?: string } {
    if (!appidKnown) {
      appid = wxAppId(api);
      appidKnown = true;
    }
    return appid === undefined ? { code } : { code, appid };
  }

  /** Stores a token response; times count from when the request was sent. */
  function keep(response: WxResponse, sentAt: number, what: string): StoredSession {
    const body = objectOf(response.data);
    if (
      body === undefined ||
      typeof body.access_token !== 'string' ||
      typeof body.refresh_token !== 'string' ||
      typeof body.openid !== 'string' ||
      typeof body.expires_in !== 'number' ||
      typeof body.refresh_expires_in !== 'number'
    ) {
      throw new AuthError('invalid_response', `${what} answered 200 without a token response.`, {
        status: response.statusCode,
      });
    }
    const lifetimeMs = body.expires_in * 1000;
    const session: StoredSession = {
      v: 1,
      accessToken: body.access_token,
      refreshToken: body.refresh_token,
      openid: body.openid,
      ...(typeof body.unionid === 'string' ? { unionid: body.unionid } : {}),
      accessExpiresAt: sentAt + lifetimeMs,
      refreshAt: sentAt + Math.max(lifetimeMs - leewayMs, lifetimeMs / 2),
      refreshExpiresAt: sentAt + body.refresh_expires_in * 1000,
    };
    storage.save(session);
    return session;
  }

  /** `wx.login()` and `POST /auth/login`: a new session (concurrent calls share one login). */
  const loginOnce = singleFlight(async (): Promise<{ session: StoredSession; isNewUser: boolean }> => {
    const code = await wxLogin(api);
    const sentAt = clock.now();
    const phone = deviceOf();
    const body = loginBody(code);
    let response = await wxRequest(
      api,
      calls.post('/auth/login', phone === undefined ? body : { ...body, device: phone }),
    );
    if (phone !== undefined && refusedDevice(response)) {
      // A device the service will not take must not cost the login: the code was not used, send it without.
      device = undefined;
      response = await wxRequest(api, calls.post('/auth/login', body));
    }
    if (response.statusCode !== 200) throw serviceError(response, 'POST /auth/login');
    const session = keep(response, sentAt, 'POST /auth/login');
    return { session, isNewUser: objectOf(response.data)?.is_new_user === true };
  });

  /**
   * One refresh at a time; null when the service refused the refresh token (the session is over).
   * A 429 is waited out once (Retry-After, at most RATE_LIMIT_WAIT_MAX_S): the service refused before
   * looking at the token, which is still good. A second 429 rejects that call and keeps the session.
   */
  const refreshOnce = singleFlight(async (): Promise<StoredSession | null> => {
    let current = storage.load();
    for (let attempt = 1; current !== null; attempt++) {
      if (clock.now() >= current.refreshExpiresAt) {
        storage.clear();
        return null;
      }
      const sentAt = clock.now();
      const response = await wxRequest(
        api,
        calls.post('/auth/refresh', { refresh_token: current.refreshToken }),
      );
      if (response.statusCode === 200) return keep(response, sentAt, 'POST /auth/refresh');
      if (response.statusCode === 400 && errorCodeOf(response) === 'invalid_grant') {
        if (storage.load()?.refreshToken === current.refreshToken) storage.clear();
        return null;
      }
      if (attempt > 1 || response.statusCode !== 429 || errorCodeOf(response) !== 'rate_limited') {
        throw serviceError(response, 'POST /auth/refresh');
      }
      await sleep(rateLimitWaitMs(response));
      const stored = storage.load();
      // A login while this one waited: its session is newer than anything this refresh would bring.
      if (stored !== null && stored.refreshToken !== current.refreshToken) return stored;
      current = stored;
    }
    return null;
  });

  /** The session to send with: the stored one while fresh, else renewed. */
  function sessionFor(mode: LoggingIn): Promise<StoredSession>;
  function sessionFor(mode: Renewal): Promise<StoredSession | null>;
  async function sessionFor(mode: Renewal): Promise<StoredSession | null> {
    const current = storage.load();
    if (current !== null && clock.now() < current.refreshAt) return current;
    return renew(current, mode);
  }

  /** A session newer than `stale` (expiring, or refused by the service). */
  function renew(stale: StoredSession | null, mode: LoggingIn): Promise<StoredSession>;
  function renew(stale: StoredSession | null, mode: Renewal): Promise<StoredSession | null>;
  async function renew(stale: StoredSession | null, mode: Renewal): Promise<StoredSession | null> {
    const current = storage.load();
    // Another request renewed it while this one waited: use theirs.
    if (current !== null && current.accessToken !== stale?.accessToken && clock.now() < current.refreshAt) {
      return current;
    }
    if (current !== null) {
      const refreshed = await refreshOnce();
      if (refreshed !== null) return refreshed;
    }
    // The refresh token was refused and forgotten: what is stored now, if anything, is a newer login.
    const after = storage.load();
    if (after !== null) return after;
    if (mode === 'never-login') return null;
    if (mode === 'open-data') return askAgain(ASK_AGAIN_UNSENT);
    return (await loginOnce()).session;
  }

  /** Logs in again (the service then holds the current session_key) and tells the caller to ask again. */
  async function askAgain(message: string, cause?: AuthError): Promise<never> {
    try {
      await loginOnce();
    } catch (error) {
      throw new DecryptFailedError(`${message} (The new login failed too; it is retried on the next call.)`, {
        cause: error,
      });
    }
    throw new DecryptFailedError(
      message,
      cause?.status === undefined ? { cause } : { status: cause.status, cause },
    );
  }

  return { login: loginOnce, sessionFor, renew, askAgain };
}

/** The service's 400 for the login body's `device` (and for nothing else). */
function refusedDevice(response: WxResponse): boolean {
  const description = objectOf(response.data)?.error_description;
  return (
    response.statusCode === 400 &&
    errorCodeOf(response) === 'invalid_request' &&
    typeof description === 'string' &&
    description.startsWith('device:')
  );
}

/** The longest a refresh waits for a rate limit to pass before it gives up for this call. */
const RATE_LIMIT_WAIT_MAX_S = 60;

/** Retry-After in seconds (the service sends no HTTP-date), bounded; 1 s when missing or unreadable. */
function rateLimitWaitMs(response: WxResponse): number {
  const seconds = Number(headerOf(response, 'retry-after'));
  return (Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds, RATE_LIMIT_WAIT_MAX_S) : 1) * 1000;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
