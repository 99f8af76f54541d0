/** Logging in and out, the user's sessions, and deleting the account. */
import { type Calls, objectOf, serviceError } from './calls.js';
import { AuthError } from './errors.js';
import type { Renewals } from './renewal.js';
import type { Requests } from './requests.js';
import type { SessionStorage, StoredSession } from './storage.js';
import type { AuthClient, AuthSession, SessionEntry } from './types.js';
import { type WxApi, wxCheckSession } from './wx.js';

export function createAccount(parts: {
  api: WxApi;
  storage: SessionStorage;
  clock: { now(): number };
  calls: Calls;
  renewal: Renewals;
  requests: Requests;
}): Pick<
  AuthClient,
  'ensureSession' | 'login' | 'logout' | 'sessions' | 'endSession' | 'deleteAccount' | 'session'
> {
  const { api, storage, clock, calls, renewal, requests } = parts;
  /** The id of this client's session, as the last list of sessions said. */
  let currentSessionId: string | undefined;

  return {
    async ensureSession() {
      const current = storage.load();
      if (current !== null && clock.now() < current.refreshExpiresAt && (await wxCheckSession(api))) {
        return publicSession(current);
      }
      return publicSession((await renewal.login()).session);
    },

    async login() {
      const { session, isNewUser } = await renewal.login();
      return { ...publicSession(session), isNewUser };
    },

    async logout(opts = {}) {
      const all = opts.all === true;
      try {
        const response = await requests.authorized(
          (session) =>
            calls.post('/auth/logout', all ? { all: true } : { refresh_token: session.refreshToken }),
          'never-login',
        );
        if (response !== null && response.statusCode !== 204)
          throw serviceError(response, 'POST /auth/logout');
      } finally {
        storage.clear();
      }
    },

    async sessions() {
      const response = await requests.authorized(() => calls.call('GET', '/auth/sessions'), 'never-login');
      if (response === null) return [];
      if (response.statusCode !== 200) throw serviceError(response, 'GET /auth/sessions');
      const listed = objectOf(response.data)?.sessions;
      if (!Array.isArray(listed)) {
        throw new AuthError('invalid_response', 'GET /auth/sessions answered 200 without sessions.');
      }
      const entries = listed.map(sessionEntry);
      currentSessionId = entries.find((entry) => entry.current)?.id;
      return entries;
    },

    async endSession(id) {
      const path = `/auth/sessions/${encodeURIComponent(id)}`;
      const response = await requests.authorized(() => calls.call('DELETE', path), 'never-login');
      if (response === null) return;
      if (response.statusCode !== 204) throw serviceError(response, `DELETE ${path}`);
      if (id === currentSessionId) storage.clear();
    },

    async deleteAccount() {
      const response = await requests.authorized(() => calls.call('DELETE', '/auth/account'), 'never-login');
      if (response !== null && response.statusCode !== 204)
        throw serviceError(response, 'DELETE /auth/account');
      storage.clear();
      currentSessionId = undefined;
    },

    session() {
      const current = storage.load();
      return current === null ? null : publicSession(current);
    },
  };
}

function publicSession(session: StoredSession): AuthSession {
  return session.unionid === undefined
    ? { openid: session.openid }
    : { openid: session.openid, unionid: session.unionid };
}

function sessionEntry(item: unknown): SessionEntry {
  const entry = objectOf(item);
  if (entry === undefined || typeof entry.id !== 'string' || typeof entry.expires_at !== 'number') {
    throw new AuthError(
      'invalid_response',
      'GET /auth/sessions answered a session without id or expires_at.',
    );
  }
  const ms = (seconds: unknown) => (typeof seconds === 'number' ? seconds * 1000 : null);
  return {
    id: entry.id,
    createdAt: ms(entry.created_at),
    refreshedAt: ms(entry.refreshed_at),
    expiresAt: entry.expires_at * 1000,
    device: typeof entry.device === 'string' ? entry.device : null,
    current: entry.current === true,
  };
}
