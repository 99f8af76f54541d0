import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import {
  AuthError,
  createAuthClient,
  DEFAULT_STORAGE_KEY,
  type ServiceErrorCode,
  singleFlight,
  type WxApi,
} from '../../src/client/index.js';
import { SessionStorage } from '../../src/client/storage.js';
import { createEmulator } from '../../src/emulator/index.js';
import type { ErrorCode } from '../../src/errors/index.js';
import { createWxShim } from './wx-shim.js';

/**
 * The client cannot import the service's modules (it ships alone, with no Node code), so it keeps its
 * own list of the contract's error codes; tsc --noEmit refuses this file when the two lists differ.
 */
const SAME_ERROR_CODES: [ServiceErrorCode] extends [ErrorCode]
  ? [ErrorCode] extends [ServiceErrorCode]
    ? true
    : false
  : false = true;
void SAME_ERROR_CODES;

/** A wx whose storage is a Map and whose every other API fails the test if called. */
function storageOnlyWx(map = new Map<string, unknown>(), broken = false): WxApi {
  const unexpected = () => expect.fail('no network or login expected');
  return {
    request: unexpected as unknown as WxApi['request'],
    login: unexpected as unknown as WxApi['login'],
    checkSession: unexpected as unknown as WxApi['checkSession'],
    getStorageSync: ((key: string) => (map.has(key) ? map.get(key) : '')) as WxApi['getStorageSync'],
    setStorageSync: (key: string, value: unknown) => {
      if (broken) throw new Error('setStorageSync:fail exceed storage max size 10Mb');
      map.set(key, value);
    },
    removeStorageSync: (key: string) => {
      map.delete(key);
    },
  };
}

const SESSION = {
  v: 1 as const,
  accessToken: 'a',
  refreshToken: 'r',
  openid: 'o1',
  accessExpiresAt: 2,
  refreshAt: 1,
  refreshExpiresAt: 3,
};

describe('Mini-program client: building blocks', () => {
  describe('singleFlight', () => {
    it('shares one run among calls made while it is in flight, and starts a new one after', async () => {
      let runs = 0;
      let release!: () => void;
      const run = singleFlight(async () => {
        runs += 1;
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        return runs;
      });
      const calls = [run(), run(), run()];
      await Promise.resolve();
      release();
      expect(await Promise.all(calls)).to.deep.equal([1, 1, 1]);
      const next = run();
      await Promise.resolve();
      release();
      expect(await next).to.equal(2);
    });

    it('shares a failure too, then lets the next call try again', async () => {
      let runs = 0;
      const run = singleFlight(async () => {
        runs += 1;
        if (runs === 1) throw new Error('first fails');
        return 'ok';
      });
      const results = await Promise.allSettled([run(), run()]);
      expect(results.map((r) => r.status)).to.deep.equal(['rejected', 'rejected']);
      expect(await run()).to.equal('ok');
      expect(runs).to.equal(2);
    });
  });

  describe('SessionStorage', () => {
    it('reads nothing from an empty or foreign storage value', () => {
      const map = new Map<string, unknown>([['k', { accessToken: 1 }]]);
      expect(new SessionStorage(storageOnlyWx(map), 'k').load()).to.equal(null);
      expect(new SessionStorage(storageOnlyWx(), 'k').load()).to.equal(null);
    });

    it('keeps the session in memory, and never reads stale storage, when storage is full', () => {
      const map = new Map<string, unknown>([['k', { ...SESSION, refreshToken: 'stale' }]]);
      const storage = new SessionStorage(storageOnlyWx(map, true), 'k');
      storage.save(SESSION);
      expect(storage.load()).to.deep.equal(SESSION);
      expect(map.has('k')).to.equal(false);
      storage.clear();
      expect(storage.load()).to.equal(null);
    });
  });

  describe('createAuthClient', () => {
    it('refuses to start without wx outside a mini-program', () => {
      expect(() => createAuthClient({ baseUrl: 'https://api.example.com' })).to.throw(TypeError, /wx/);
    });

    it('reports the stored session without any call', () => {
      const map = new Map<string, unknown>([[DEFAULT_STORAGE_KEY, { ...SESSION, unionid: 'u1' }]]);
      const auth = createAuthClient({ baseUrl: 'https://api.example.com/', wx: storageOnlyWx(map) });
      expect(auth.baseUrl).to.equal('https://api.example.com');
      expect(auth.session()).to.deep.equal({ openid: 'o1', unionid: 'u1' });
    });

    it('keeps its session under the storageKey given', () => {
      const map = new Map<string, unknown>([['mine', SESSION]]);
      const auth = createAuthClient({
        baseUrl: 'https://api.example.com',
        wx: storageOnlyWx(map),
        storageKey: 'mine',
      });
      expect(auth.session()).to.deep.equal({ openid: 'o1' });
    });
  });

  describe('against a service that keeps refusing the token', () => {
    it('renews once, retries once, then throws AuthError invalid_token instead of looping', async () => {
      const paths: string[] = [];
      const server = createServer((req, res) => {
        paths.push(`${req.method} ${req.url}`);
        res.setHeader('content-type', 'application/json');
        if (req.url === '/auth/login' || req.url === '/auth/refresh') {
          res.end(
            JSON.stringify({
              access_token: `t${paths.length}`,
              token_type: 'Bearer',
              expires_in: 900,
              refresh_token: `r${paths.length}`,
              refresh_expires_in: 86400,
              openid: 'o1',
            }),
          );
          return;
        }
        res.statusCode = 401;
        res.setHeader('www-authenticate', 'Bearer error="invalid_token"');
        res.end(JSON.stringify({ error: 'invalid_token', error_description: 'never good enough' }));
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const emulator = createEmulator();
      try {
        const wx = createWxShim({ emulator });
        const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const auth = createAuthClient({ baseUrl, wx });
        const error = await auth.request({ url: '/api/thing' }).then(
          () => expect.fail('resolved'),
          (e: unknown) => e,
        );
        expect(error).to.be.instanceOf(AuthError);
        expect(error).to.include({ code: 'invalid_token', status: 401 });
        expect(paths).to.deep.equal([
          'POST /auth/login',
          'GET /api/thing',
          'POST /auth/refresh',
          'GET /api/thing',
        ]);
      } finally {
        server.closeAllConnections();
        server.close();
      }
    });
  });
});
