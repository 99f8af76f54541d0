import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { ROOT } from '../../scripts/lib/spawn.js';
import {
  AuthError,
  createWebAuth,
  DEFAULT_STORAGE_KEY,
  type QrLoginStatus,
  type StorageLike,
  type WebAuth,
} from '../../src/browser/index.js';
import { type LiveService, startLiveService } from '../client/service.js';
import { pngOfDataUrl, readQrCode } from '../helpers/qr.js';
import { rejectionOf } from '../helpers/rejection.js';

/** sessionStorage as a Map. */
function memoryStorage(): StorageLike & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return {
    map,
    getItem: (key) => map.get(key) ?? null,
    setItem: (key, value) => void map.set(key, value),
    removeItem: (key) => void map.delete(key),
  };
}

const rejection = (promise: Promise<unknown>) => rejectionOf(promise, AuthError);

describe('Browser SDK (createWebAuth) against the real service', function () {
  this.timeout(20_000);
  let s: LiveService;
  beforeEach(async () => {
    s = await startLiveService();
  });
  afterEach(async () => {
    await s.close();
  });

  /** The website's SDK, with the service's clock, and every request it sends. */
  function website(storage: StorageLike | null = memoryStorage()) {
    const sent: Array<{ method: string; url: string; authorization: string | null }> = [];
    const auth = createWebAuth({
      baseUrl: s.baseUrl,
      storage,
      clock: s.h.clock,
      fetch: (input, init) => {
        const headers = new Headers(init?.headers);
        sent.push({
          method: init?.method ?? 'GET',
          url: String(input),
          authorization: headers.get('authorization'),
        });
        return fetch(input, init);
      },
    });
    return { auth, sent };
  }

  /** A logged-in website: its SDK after the phone scanned and confirmed. */
  async function loggedIn(storage: StorageLike | null = memoryStorage()) {
    const site = website(storage);
    const login = await site.auth.startQrLogin();
    const phone = s.phone();
    const done = login.wait();
    const shown = await phone.auth.scanWebLogin(login.ticket);
    await phone.auth.confirmWebLogin(shown.ticket, login.match);
    const result = await done;
    return { ...site, phone, result };
  }

  it('shows the code, hears the scan and the confirm, and keeps the new session: its refresh token in storage only', async () => {
    const storage = memoryStorage();
    const { auth } = website(storage);
    const login = await auth.startQrLogin();
    expect(readQrCode(pngOfDataUrl(login.image))).to.equal(`pages/qr-login/index?scene=${login.ticket}`);
    expect(login.expiresAt).to.equal(s.h.clock.now() + 120_000);
    expect(login.match).to.match(/^[0-9]{2}$/);
    const heard: QrLoginStatus[] = [];
    const done = login.wait({ onStatus: (status) => heard.push(status) });
    const phone = s.phone();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const shown = await phone.auth.scanWebLogin(login.ticket);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await phone.auth.confirmWebLogin(shown.ticket, login.match);
    const result = await done;
    expect(result).to.deep.equal({ status: 'confirmed', session: { openid: phone.wx.openid } });
    expect(heard).to.deep.equal(['scanned', 'confirmed']);
    expect(auth.session()).to.deep.equal({ openid: phone.wx.openid });
    const stored = JSON.parse(storage.map.get(DEFAULT_STORAGE_KEY)!);
    expect(stored).to.have.keys('v', 'refreshToken', 'openid', 'refreshExpiresAt');
    expect(JSON.stringify(stored)).not.to.contain('eyJ');
  });

  it('attaches the access token to the service only, and refreshes it once it expires', async () => {
    const { auth, sent, phone } = await loggedIn();
    const me = await auth.fetch('/auth/me');
    expect(me.status).to.equal(200);
    expect(((await me.json()) as { openid: string }).openid).to.equal(phone.wx.openid);
    expect(sent.at(-1)!.authorization).to.match(/^Bearer /);

    const other: Server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    try {
      await auth.fetch(`http://127.0.0.1:${(other.address() as AddressInfo).port}/x`);
      expect(sent.at(-1)!.authorization).to.equal(null);
    } finally {
      other.close();
    }

    s.h.clock.advance(900_000);
    expect((await auth.fetch('/auth/me')).status).to.equal(200);
    expect(sent.filter((r) => r.url.endsWith('/auth/refresh'))).to.have.length(1);
  });

  it('goes on after a reload (a new SDK over the same storage) with one refresh; memory-only storage does not', async () => {
    const storage = memoryStorage();
    const { phone } = await loggedIn(storage);
    const reloaded = website(storage);
    expect(reloaded.auth.session()).to.deep.equal({ openid: phone.wx.openid });
    expect((await reloaded.auth.fetch('/auth/me')).status).to.equal(200);
    expect(reloaded.sent.map((r) => new URL(r.url).pathname)).to.deep.equal(['/auth/refresh', '/auth/me']);

    await loggedIn(null);
    const fresh = website(null);
    expect(fresh.auth.session()).to.equal(null);
    expect(await rejection(fresh.auth.fetch('/auth/me'))).to.include({ code: 'login_required' });
  });

  it('refreshes once for concurrent requests after the token expired', async () => {
    const { auth, sent } = await loggedIn();
    s.h.clock.advance(900_000);
    const answers = await Promise.all(Array.from({ length: 5 }, () => auth.fetch('/auth/me')));
    expect(answers.map((a) => a.status)).to.deep.equal([200, 200, 200, 200, 200]);
    expect(sent.filter((r) => r.url.endsWith('/auth/refresh'))).to.have.length(1);
  });

  it('answers canceled when the user declines on the phone, and expired once the code expired', async () => {
    const { auth } = website();
    const declined = await auth.startQrLogin();
    const phone = s.phone();
    const waiting = declined.wait();
    await phone.auth.scanWebLogin(declined.ticket);
    await phone.auth.cancelWebLogin(declined.ticket);
    expect(await waiting).to.deep.equal({ status: 'canceled' });

    const late = await auth.startQrLogin();
    s.h.clock.advance(120_000);
    expect(await late.wait()).to.deep.equal({ status: 'expired' });
    expect(auth.session()).to.equal(null);
  });

  /**
   * A website's SDK whose first poll answer carrying the tokens is lost on its way (the service
   * answered; the connection broke before the browser read it), after `onLost` ran. `seen()` counts
   * the poll answers that carried tokens.
   */
  function losingFirstTokens(onLost: () => void = () => {}) {
    let seen = 0;
    const auth: WebAuth = createWebAuth({
      baseUrl: s.baseUrl,
      storage: null,
      clock: s.h.clock,
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        const text = await response.text();
        if (String(input).endsWith('/poll') && text.includes('"confirmed"') && seen++ === 0) {
          onLost();
          throw new TypeError('fetch failed');
        }
        return new Response(text, { status: response.status, headers: response.headers });
      },
    });
    return { auth, seen: () => seen };
  }

  it('still logs in when the answer that carried the tokens was lost on its way: the next poll collects them again', async () => {
    const { auth, seen } = losingFirstTokens();
    const login = await auth.startQrLogin();
    const phone = s.phone();
    const waiting = login.wait();
    const shown = await phone.auth.scanWebLogin(login.ticket);
    await phone.auth.confirmWebLogin(shown.ticket, login.match);
    expect(await waiting).to.deep.equal({ status: 'confirmed', session: { openid: phone.wx.openid } });
    expect(seen()).to.equal(2);
    expect((await auth.fetch('/auth/me')).status).to.equal(200);
    // One web session was opened, not one per collection.
    const sessions = (await (await auth.fetch('/auth/sessions')).json()) as { sessions: unknown[] };
    expect(sessions.sessions).to.have.length(2);
  });

  it("still collects a confirm at the code's last second when a poll fails on the network past the code's expiry", async () => {
    // By the time the browser notices the lost answer, the code's 120 s are over.
    const { auth, seen } = losingFirstTokens(() => s.h.clock.advance(2000));
    const login = await auth.startQrLogin();
    const phone = s.phone();
    const shown = await phone.auth.scanWebLogin(login.ticket);
    s.h.clock.advance(119_000);
    const waiting = login.wait();
    await phone.auth.confirmWebLogin(shown.ticket, login.match);
    expect(await waiting).to.deep.equal({ status: 'confirmed', session: { openid: phone.wx.openid } });
    expect(seen()).to.be.above(1);
  });

  it('rides out a poll that failed on the network, and stops when its signal aborts', async () => {
    let failures = 1;
    const auth: WebAuth = createWebAuth({
      baseUrl: s.baseUrl,
      storage: null,
      clock: s.h.clock,
      fetch: (input, init) => {
        if (String(input).endsWith('/poll') && failures-- > 0)
          return Promise.reject(new TypeError('fetch failed'));
        return fetch(input, init);
      },
    });
    const login = await auth.startQrLogin();
    const phone = s.phone();
    const waiting = login.wait();
    const shown = await phone.auth.scanWebLogin(login.ticket);
    await phone.auth.confirmWebLogin(shown.ticket, login.match);
    expect((await waiting).status).to.equal('confirmed');

    const other = await auth.startQrLogin();
    const stop = new AbortController();
    const aborted = other.wait({ signal: stop.signal }).catch((error: unknown) => error);
    setTimeout(() => stop.abort(new Error('page closed')), 100);
    expect(((await aborted) as Error).message).to.equal('page closed');
  });

  it('logs out at the service: the refresh token is refused from then on', async () => {
    const storage = memoryStorage();
    const { auth } = await loggedIn(storage);
    const { refreshToken } = JSON.parse(storage.map.get(DEFAULT_STORAGE_KEY)!);
    await auth.logout();
    expect(auth.session()).to.equal(null);
    expect(storage.map.size).to.equal(0);
    const res = await fetch(`${s.baseUrl}/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: refreshToken }),
    });
    expect(res.status).to.equal(400);
  });

  it('refuses a base URL that is not http(s), or has a query', () => {
    for (const baseUrl of ['ftp://x', 'https://x/?a=1', 'not a url']) {
      expect(() => createWebAuth({ baseUrl, storage: null })).to.throw(TypeError);
    }
  });
});

describe("Browser SDK: the package entry point 'wxauth/browser'", function () {
  this.timeout(120_000);
  const importsOf = (source: string) =>
    [...source.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g)].map((m) => m[1]!);

  before(async () => {
    // What `npm install` runs (prepare: build:browser).
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    await promisify(execFile)(process.execPath, [tsc, '-p', 'src/browser/tsconfig.json'], { cwd: ROOT });
  });

  it('ships ES modules with type declarations in dist/browser that import only each other', async () => {
    const dir = join(ROOT, 'dist/browser');
    const files = await readdir(dir);
    expect(files).to.include.members(['index.js', 'index.d.ts', 'web-auth.js', 'web-auth.d.ts', 'errors.js']);
    for (const file of files.filter((f) => f.endsWith('.js'))) {
      for (const specifier of importsOf(await readFile(join(dir, file), 'utf8'))) {
        expect(specifier, file).to.match(/^\.\/[a-z-]+\.js$/);
      }
    }
  });

  it('resolves by name to the built SDK', async () => {
    const specifier = 'wxauth/browser';
    const sdk = (await import(specifier)) as typeof import('../../src/browser/index.js');
    expect(sdk.createWebAuth).to.be.a('function');
    expect(new sdk.AuthError('x', 'y')).to.be.instanceOf(Error);
  });
});
