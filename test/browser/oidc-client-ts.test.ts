import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import { ROOT } from '../../scripts/lib/spawn.js';
import { launchChromium } from '../helpers/chromium.js';
import { type LiveOAuth, startLiveOAuth } from '../helpers/oauth-live.js';

/**
 * A relying party's single page on its own origin (another port than wxauth's: discovery and the token
 * endpoint are called cross-origin, under wxauth's CORS for redirect URIs' origins), running
 * oidc-client-ts's browser build as shipped: UserManager configured by the authority alone.
 */
function spa(authority: string, clientId: string, redirectUri: string): string {
  return `<!doctype html><meta charset="utf-8"><title>relying party</title>
<pre id="result"></pre><pre id="error"></pre>
<script src="/oidc-client-ts.min.js"></script>
<script>
const manager = new oidc.UserManager({
  authority: ${JSON.stringify(authority)},
  client_id: ${JSON.stringify(clientId)},
  redirect_uri: ${JSON.stringify(redirectUri)},
  response_type: 'code',
  scope: 'openid',
});
window.signIn = () => manager.signinRedirect();
if (location.pathname === '/callback') {
  manager.signinRedirectCallback().then(
    (user) => {
      document.getElementById('result').textContent = JSON.stringify({
        profile: user.profile, scope: user.scope, hasAccessToken: typeof user.access_token === 'string',
        hasRefreshToken: typeof user.refresh_token === 'string', expired: user.expired,
      });
    },
    (error) => { document.getElementById('error').textContent = error.message || String(error); },
  );
}
</script>`;
}

describe('OAuth: oidc-client-ts (a standard browser relying party) logs in through wxauth in Chromium', function () {
  this.timeout(60_000);
  let browser: Browser;
  let live: LiveOAuth;

  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  beforeEach(async () => {
    live = await startLiveOAuth();
    const library = await readFile(
      join(ROOT, 'node_modules/oidc-client-ts/dist/browser/oidc-client-ts.min.js'),
    );
    live.serveSite((req, res) => {
      const path = new URL(req.url ?? '/', live.site).pathname;
      if (path === '/oidc-client-ts.min.js')
        return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(library);
      res
        .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        .end(spa(live.url, live.website, live.redirectUri));
    });
  });
  afterEach(async () => {
    await live.close();
  });

  async function signInAtQrPage(tab: Page, button: string): Promise<{ result: string; error: string }> {
    await tab.goto(`${live.site}/`);
    await Promise.all([
      tab.waitForURL((url) => url.pathname === '/connect/qrconnect'),
      // Not awaited in the page: it navigates away, which would destroy the evaluation's context.
      tab.evaluate(() => {
        void (globalThis as unknown as { signIn(): Promise<void> }).signIn();
      }),
    ]);
    await Promise.all([
      tab.waitForURL((url) => url.href.startsWith(live.redirectUri)),
      tab.getByRole('button', { name: button }).click(),
    ]);
    const result = tab.locator('#result');
    const error = tab.locator('#error');
    // No named function inside: tsx would wrap it in a helper the page does not have.
    await tab.waitForFunction(() => {
      const { document } = globalThis as unknown as {
        document: { getElementById(id: string): { textContent: string } };
      };
      return (
        document.getElementById('result').textContent !== '' ||
        document.getElementById('error').textContent !== ''
      );
    });
    return { result: (await result.textContent()) ?? '', error: (await error.textContent()) ?? '' };
  }

  it("signs in through the website's QR page: the profile's sub is the person's openid, the ID token validated", async () => {
    const person = live.h.emulator.createUser({ unionid: true });
    const openid = person.openids[live.website]!;
    const tab = await browser.newPage();
    const pageErrors: string[] = [];
    tab.on('pageerror', (error) => pageErrors.push(error.message));
    const calls: string[] = [];
    tab.on('request', (request) => {
      const url = new URL(request.url());
      if (url.origin === live.url) calls.push(`${request.method()} ${url.pathname}`);
    });
    const { result, error } = await signInAtQrPage(tab, `Scan with the emulator's phone as ${openid}`);
    expect(error).to.equal('');
    const user = JSON.parse(result) as {
      profile: Record<string, unknown>;
      hasAccessToken: boolean;
      hasRefreshToken: boolean;
      expired: boolean;
    };
    // signinRedirectCallback() resolves only once it accepted the ID token (iss, aud, its state's nonce).
    expect(user.profile).to.include({
      sub: openid,
      iss: live.url,
      aud: live.website,
      unionid: person.unionid,
    });
    expect(user).to.include({ hasAccessToken: true, hasRefreshToken: true, expired: false });
    // Its calls to wxauth: discovery and the token endpoint from its own origin (CORS), the browser's trip.
    expect(calls).to.include.members([
      'GET /.well-known/openid-configuration',
      'GET /oauth/authorize',
      'GET /oauth/callback',
      'POST /oauth/token',
    ]);
    expect(pageErrors).to.deep.equal([]);
    await tab.close();
  });

  it("reports the person's refusal at WeChat as an error, signing nobody in", async () => {
    const tab = await browser.newPage();
    const { result, error } = await signInAtQrPage(tab, 'Refuse (拒绝)');
    expect(result).to.equal('');
    expect(error).to.equal('The sign-in was refused at WeChat.');
    await tab.close();
  });
});
