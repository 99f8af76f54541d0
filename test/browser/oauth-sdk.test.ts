import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import { ROOT } from '../../scripts/lib/spawn.js';
import {
  AuthError,
  createWebAuth,
  type RedirectLoginOptions,
  type StorageLike,
  type WebAuth,
} from '../../src/browser/index.js';
import { launchChromium } from '../helpers/chromium.js';
import { type LiveOAuth, startLiveOAuth } from '../helpers/oauth-live.js';
import { rejectionOf } from '../helpers/rejection.js';

/**
 * The website's page under the service's origin: `/app/` starts a sign-in (window.login), `/app/callback`
 * finishes it and writes what came out into #result (or the error into #error), then lists the sessions.
 */
function page(service: string, script: string): string {
  return `<!doctype html><meta charset="utf-8"><title>site</title>
<pre id="result"></pre><pre id="error"></pre>
<script type="module">
import { AuthError, createWebAuth } from '/app/sdk/index.js';
// The test may hold the page before it leaves for WeChat (window.hold), to look at what was kept.
const auth = createWebAuth({
  baseUrl: ${JSON.stringify(service)},
  navigate: (url) => { window.next = url; if (!window.hold) location.assign(url); },
});
window.auth = auth;
window.AuthError = AuthError;
${script}
</script>`;
}

const CALLBACK = `
try {
  const result = await auth.handleRedirectCallback();
  const sessions = await (await auth.fetch('/auth/sessions')).json();
  document.getElementById('result').textContent = JSON.stringify({ ...result, sessions });
} catch (error) {
  document.getElementById('error').textContent = JSON.stringify({
    typed: error instanceof AuthError, code: error.code, message: error.message,
  });
}`;

/** The site's page as the test's callbacks into it see it (this file is compiled without DOM types). */
interface SitePage {
  auth: { loginWithRedirect(options: object): Promise<void>; fetch(path: string): Promise<Response> };
  hold: boolean;
  next: string;
  sessionStorage: Storage;
  document: { getElementById(id: string): { textContent: string | null } | null };
}
interface Storage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  [key: string]: unknown;
}
describe('Browser SDK: loginWithRedirect() and handleRedirectCallback() in Chromium against the real service', function () {
  this.timeout(60_000);
  let browser: Browser;
  let live: LiveOAuth;

  before(async () => {
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    await promisify(execFile)(process.execPath, [tsc, '-p', 'src/browser/tsconfig.json'], { cwd: ROOT });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  beforeEach(async () => {
    live = await startLiveOAuth();
    const service = live.url;
    live.serveSite(async (req, res) => {
      const path = new URL(req.url ?? '/', service).pathname;
      const sdk = /^\/app\/sdk\/([a-z-]+\.js)$/.exec(path);
      if (sdk) {
        const body = await readFile(join(ROOT, 'dist/browser', sdk[1]!)).catch(() => null);
        if (body === null) return void res.writeHead(404).end();
        return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(body);
      }
      const html = path === '/app/callback' ? page(service, CALLBACK) : page(service, '');
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    });
  });
  afterEach(async () => {
    await live.close();
  });

  /** Opens the site and starts a sign-in with the SDK; the page is then at WeChat's (the emulator's). */
  async function startSignIn(
    clientId: string,
    scope?: string,
    beforeLeaving?: (tab: Page) => Promise<void>,
  ): Promise<{ tab: Page; authorize: URL }> {
    const tab = await browser.newPage();
    await tab.goto(`${live.url}/app/`);
    await tab.waitForFunction(() => 'auth' in globalThis);
    await tab.evaluate(() => {
      (globalThis as unknown as SitePage).hold = true;
    });
    await tab.evaluate(
      ([clientId, redirectUri, scope]) =>
        (globalThis as unknown as SitePage).auth.loginWithRedirect({
          clientId,
          redirectUri,
          ...(scope ? { scope } : {}),
        }),
      [clientId, live.sameOriginRedirectUri, scope ?? ''] as const,
    );
    const next = await tab.evaluate(() => (globalThis as unknown as SitePage).next);
    await beforeLeaving?.(tab);
    await tab.goto(next);
    expect(tab.url().startsWith(live.h.emulator.url)).to.equal(true, tab.url());
    return { tab, authorize: new URL(next) };
  }

  const pendingKeys = (tab: Page) =>
    tab.evaluate(() =>
      Object.keys((globalThis as unknown as SitePage).sessionStorage).filter((key) =>
        key.startsWith('wxauth:oauth:'),
      ),
    );

  async function outcome(
    tab: Page,
  ): Promise<{ result?: Record<string, unknown>; error?: Record<string, unknown> }> {
    await tab.waitForFunction(
      () =>
        (globalThis as unknown as SitePage).document.getElementById('result')?.textContent ||
        (globalThis as unknown as SitePage).document.getElementById('error')?.textContent,
    );
    const read = async (id: string) => {
      const text = await tab.locator(`#${id}`).textContent();
      return text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    };
    const result = await read('result');
    const error = await read('error');
    return { ...(result ? { result } : {}), ...(error ? { error } : {}) };
  }

  it("website: PKCE, state and nonce go to /oauth/authorize, the QR page's scan comes back signed in, the nonce checked, and the verifier is gone", async () => {
    let pending: { verifier: string; nonce: string } | undefined;
    let pendingKey: string | undefined;
    const { tab, authorize } = await startSignIn(live.website, undefined, async (at) => {
      // What the SDK kept for the way back: one pending sign-in, keyed by its state.
      const keys = await pendingKeys(at);
      expect(keys).to.have.length(1);
      pending = JSON.parse(
        (await at.evaluate((k) => (globalThis as unknown as SitePage).sessionStorage.getItem(k), keys[0]!))!,
      );
      pendingKey = keys[0];
    });
    expect(pendingKey).to.equal(`wxauth:oauth:${authorize.searchParams.get('state')}`);
    expect(new URL(tab.url()).pathname).to.equal('/connect/qrconnect');
    expect(authorize.pathname).to.equal('/oauth/authorize');
    expect(Object.fromEntries(authorize.searchParams)).to.include({
      response_type: 'code',
      client_id: live.website,
      redirect_uri: live.sameOriginRedirectUri,
      scope: 'openid',
      code_challenge_method: 'S256',
      code_challenge: createHash('sha256').update(pending!.verifier).digest('base64url'),
      nonce: pending!.nonce,
    });
    expect(pending!.verifier).to.match(/^[A-Za-z0-9_-]{43}$/);
    expect(pending!.nonce).to.match(/^[A-Za-z0-9_-]{43}$/);

    await Promise.all([
      tab.waitForURL((url) => url.pathname === '/app/callback'),
      tab.getByRole('button', { name: "Scan with the emulator's phone as a new person" }).click(),
    ]);
    const { result, error } = await outcome(tab);
    expect(error).to.equal(undefined);
    const claims = result!.idTokenClaims as Record<string, unknown>;
    expect(claims).to.include({ iss: live.url, aud: live.website, nonce: pending!.nonce });
    expect(result!.session).to.deep.equal({ openid: claims.sub });
    expect((result!.sessions as { sessions: Array<{ app?: string }> }).sessions).to.have.length(1);
    expect(await pendingKeys(tab)).to.deep.equal([]);
    // The session is kept as a web login's: its refresh token in sessionStorage, no access token there.
    const stored = await tab.evaluate(() =>
      (globalThis as unknown as SitePage).sessionStorage.getItem('wxauth:web-session'),
    );
    expect(JSON.parse(stored!)).to.include({ openid: claims.sub });
    expect(stored).not.to.contain('eyJ');
    await tab.close();
  });

  it("official account (snsapi_userinfo): the consent page's 允许 Allow signs the person in with their unionid, and the SDK refreshes the token once the service's clock passed its expiry", async () => {
    const person = live.h.emulator.createUser({ unionid: true });
    const { tab } = await startSignIn(live.officialAccount, 'snsapi_userinfo');
    expect(new URL(tab.url()).pathname).to.equal('/connect/oauth2/authorize');
    await tab.getByLabel(person.openids[live.officialAccount]!).check();
    await Promise.all([
      tab.waitForURL((url) => url.pathname === '/app/callback'),
      tab.getByRole('button', { name: '允许 Allow' }).click(),
    ]);
    const { result } = await outcome(tab);
    expect(result!.session).to.deep.equal({
      openid: person.openids[live.officialAccount],
      unionid: person.unionid,
    });
    expect((result!.idTokenClaims as { unionid?: string }).unionid).to.equal(person.unionid);

    const refreshes: string[] = [];
    tab.on('request', (request) => {
      if (new URL(request.url()).pathname === '/auth/refresh') refreshes.push(request.method());
    });
    live.h.clock.advance(3_600_000);
    const answer = await tab.evaluate(async () => {
      const auth = (globalThis as unknown as SitePage).auth;
      const response = await auth.fetch('/auth/me');
      return { status: response.status, body: (await response.json()) as { openid: string } };
    });
    expect(answer.status).to.equal(200);
    expect(answer.body.openid).to.equal(person.openids[live.officialAccount]);
    expect(refreshes).to.deep.equal(['POST']);
    await tab.close();
  });

  it('the person refusing at WeChat comes out as AuthError access_denied, and the pending sign-in is removed', async () => {
    const { tab } = await startSignIn(live.officialAccount, 'snsapi_userinfo');
    await Promise.all([
      tab.waitForURL((url) => url.pathname === '/app/callback'),
      tab.getByRole('button', { name: '拒绝 Refuse' }).click(),
    ]);
    const { error } = await outcome(tab);
    expect(error).to.include({ typed: true, code: 'access_denied' });
    expect(await pendingKeys(tab)).to.deep.equal([]);
    await tab.close();
  });

  it('refuses a callback whose state this tab did not start, or comes back a second time, as invalid_state', async () => {
    const tab = await browser.newPage();
    await tab.goto(`${live.url}/app/callback?code=x&state=not-ours`);
    expect((await outcome(tab)).error).to.include({ typed: true, code: 'invalid_state' });

    const { tab: signedIn } = await startSignIn(live.website);
    await Promise.all([
      signedIn.waitForURL((url) => url.pathname === '/app/callback'),
      signedIn.getByRole('button', { name: "Scan with the emulator's phone as a new person" }).click(),
    ]);
    expect((await outcome(signedIn)).result).to.have.property('session');
    // A reload of the callback: its state was used.
    await signedIn.reload();
    expect((await outcome(signedIn)).error).to.include({ typed: true, code: 'invalid_state' });
    await Promise.all([tab.close(), signedIn.close()]);
  });

  it('refuses an ID token whose nonce is not the one it sent (the code redeemed by a page that altered it)', async () => {
    // The nonce kept is changed before the browser leaves for WeChat: the ID token's then differs.
    const { tab } = await startSignIn(live.website, undefined, async (at) => {
      const [key] = await pendingKeys(at);
      await at.evaluate((k) => {
        const pending = JSON.parse((globalThis as unknown as SitePage).sessionStorage.getItem(k)!);
        (globalThis as unknown as SitePage).sessionStorage.setItem(
          k,
          JSON.stringify({ ...pending, nonce: 'another' }),
        );
      }, key!);
    });
    await Promise.all([
      tab.waitForURL((url) => url.pathname === '/app/callback'),
      tab.getByRole('button', { name: "Scan with the emulator's phone as a new person" }).click(),
    ]);
    const { error } = await outcome(tab);
    expect(error).to.include({ typed: true, code: 'invalid_id_token' });
    expect(
      await tab.evaluate(() =>
        (globalThis as unknown as SitePage).sessionStorage.getItem('wxauth:web-session'),
      ),
    ).to.equal(null);
    await tab.close();
  });
});

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

describe('Browser SDK: the redirect login in Node against the real service (what a browser test cannot alter)', function () {
  this.timeout(20_000);
  let live: LiveOAuth;
  beforeEach(async () => {
    live = await startLiveOAuth();
  });
  afterEach(async () => {
    await live.close();
  });

  /**
   * The SDK of a page at the redirect URI, its navigation recorded; `at` is the SDK's clock, and `send`
   * may alter what the service answers.
   */
  function sdk(options: { at?: () => number; send?: typeof fetch } = {}) {
    const visited: string[] = [];
    const auth = createWebAuth({
      baseUrl: live.url,
      storage: memoryStorage(),
      redirectStorage: memoryStorage(),
      navigate: (url) => void visited.push(url),
      ...(options.at === undefined ? {} : { clock: { now: options.at } }),
      ...(options.send === undefined ? {} : { fetch: options.send }),
    });
    return { auth, visited };
  }

  /** The browser's trip from the authorization URL back to the redirect URI, a new person allowing. */
  async function trip(authorizeUrl: string): Promise<string> {
    const first = await fetch(authorizeUrl, { redirect: 'manual' });
    const wechat = new URL(first.headers.get('location')!);
    const { location } = live.h.emulator.authorize({
      appid: wechat.searchParams.get('appid')!,
      redirectUri: wechat.searchParams.get('redirect_uri')!,
      state: wechat.searchParams.get('state')!,
      decision: 'allow',
    });
    const back = await fetch(location, { redirect: 'manual' });
    return back.headers.get('location')!;
  }

  const login = (auth: WebAuth, more: Partial<RedirectLoginOptions> = {}) =>
    auth.loginWithRedirect({ clientId: live.website, redirectUri: live.redirectUri, ...more });

  it('always asks for openid, and refuses extra parameters that are the flow’s own', async () => {
    const { auth, visited } = sdk();
    await login(auth, { scope: 'profile', extra: { prompt: 'login' } });
    const params = new URL(visited[0]!).searchParams;
    expect(params.get('scope')).to.equal('openid profile');
    expect(params.get('prompt')).to.equal('login');
    for (const name of ['state', 'nonce', 'code_challenge', 'redirect_uri']) {
      expect(await rejectionOf(login(auth, { extra: { [name]: 'x' } }), TypeError)).to.be.instanceOf(
        TypeError,
      );
    }
    expect(visited).to.have.length(1);
  });

  it('refuses an ID token that has expired by the clock of the browser (past its exp and 5 minutes of skew)', async () => {
    // The service's clock an hour and a half behind the browser's: its ID token is stale on arrival.
    live.h.clock.set(Date.now() - 90 * 60_000);
    const { auth, visited } = sdk();
    await login(auth);
    const back = await trip(visited[0]!);
    const error = await rejectionOf(auth.handleRedirectCallback(back), AuthError);
    expect(error).to.include({ code: 'invalid_id_token' });
    expect(error.message).to.contain('expired');
    expect(auth.session()).to.equal(null);
  });

  it('refuses an authorization response naming another issuer, or none where discovery promises one (RFC 9207 mix-up), redeeming nothing', async () => {
    const { auth, visited } = sdk();
    await login(auth);
    const back = new URL(await trip(visited[0]!));
    back.searchParams.set('iss', 'https://other.example');
    expect(await rejectionOf(auth.handleRedirectCallback(back.href), AuthError)).to.include({
      code: 'invalid_response',
    });
    expect(auth.session()).to.equal(null);

    // Without iss, from an issuer whose discovery says every response carries it: the same.
    const again = sdk();
    await login(again.auth);
    const bare = new URL(await trip(again.visited[0]!));
    bare.searchParams.delete('iss');
    expect(await rejectionOf(again.auth.handleRedirectCallback(bare.href), AuthError)).to.include({
      code: 'invalid_response',
    });
  });
});
