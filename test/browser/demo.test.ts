import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { build, ROOT, type ServiceProcess, startService } from '../../scripts/lib/spawn.js';
import { createEmulator } from '../../src/emulator/index.js';
import { launchChromiumProfile } from '../helpers/chromium.js';
import { pngOfDataUrl, readQrCode } from '../helpers/qr.js';

const run = promisify(execFile);
/**
 * Where the screenshots go: a temporary folder, or SCREENSHOTS_DIR (docs, to retake the README's demo pictures:
 * `SCREENSHOTS_DIR=docs npx mocha test/browser/demo.test.ts`).
 */
const SCREENSHOTS = process.env.SCREENSHOTS_DIR ? join(ROOT, process.env.SCREENSHOTS_DIR) : undefined;

/** Waits until the element's text is `expected` (a string: equal; a RegExp: matching), or fails saying what it saw. */
async function shows(locator: Locator, expected: string | RegExp, ms = 15_000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const text = ((await locator.textContent({ timeout: ms }).catch(() => null)) ?? '').trim();
    if (typeof expected === 'string' ? text === expected : expected.test(text)) return text;
    if (Date.now() > deadline)
      throw new Error(`${locator}: expected ${expected}, shows ${JSON.stringify(text)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const containing = (text: string) => new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));

describe('the demo, in Chromium through Playwright, against `npm start` with no configuration', function () {
  this.timeout(120_000);
  let service: ServiceProcess;
  let demo: string;
  let profile: string;
  let context: BrowserContext;
  let shots: string;
  let entry: string;

  before(async () => {
    // What `npm install` builds (prepare): the service as `npm start` runs it, the SDKs the pages load.
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    await run(process.execPath, [tsc, '-p', 'src/browser/tsconfig.json'], { cwd: ROOT });
    await run(process.execPath, [tsc, '-p', 'src/client/tsconfig.json'], { cwd: ROOT });
    entry = join(build(join('.tmp', `demo-build-${process.pid}`)), 'server.js');
    service = startService({ entry, env: { PORT: '0' } });
    const [, url] = await service.match(/^Open (http:\/\/localhost:\d+\/demo) in a browser/m, 30_000);
    demo = url!;
    profile = mkdtempSync(join(tmpdir(), 'wxauth-chromium-'));
    shots = SCREENSHOTS ?? mkdtempSync(join(tmpdir(), 'wxauth-shots-'));
    mkdirSync(shots, { recursive: true });
    context = await launchChromiumProfile(profile, { width: 1100, height: 780 });
  });

  after(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    if (!SCREENSHOTS && shots) rmSync(shots, { recursive: true, force: true });
    await service?.stop();
    if (entry) rmSync(join(entry, '..'), { recursive: true, force: true });
  });

  /** A page of the demo whose script errors fail the test. */
  async function open(path: string): Promise<{ page: Page; errors: string[] }> {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => {
      // WeChat's pages (the emulator's) are not the demo's: their favicon.ico is a 404 there.
      if (
        message.type() === 'error' &&
        new URL(message.location().url || demo).origin === new URL(demo).origin
      )
        errors.push(message.text());
    });
    await page.goto(new URL(path, demo).href);
    return { page, errors };
  }

  it('logs the website in by a scan on the phone: the code, the confirm screen, the openid and GET /auth/me', async () => {
    const { page, errors } = await open('/demo');
    const code = page.locator('#code[src^="data:image/png;base64,"]');
    await code.waitFor();
    await shows(page.locator('#status'), 'Scan it with WeChat');
    const scene = readQrCode(pngOfDataUrl((await code.getAttribute('src'))!));
    expect(scene).to.match(/^pages\/qr-login\/index\?scene=[A-Za-z0-9_-]{22}$/);

    const phone = page.frameLocator('#phone');
    const status = await shows(phone.locator('#phone-status'), /^Logged in to the mini-program as o\S+$/);
    const phoneOpenid = status.split(' as ')[1]!;
    const match = await shows(page.locator('#match'), /^[0-9]{2}$/);
    await phone.locator('#scan').click();
    await shows(phone.locator('#request-device'), /^Web · Chrome \d+ on Linux$/);
    await shows(phone.locator('#request-address'), '127.0.0.1');
    await shows(page.locator('#status'), 'Scanned: confirm on your phone');
    await phone.locator('#choices button').nth(2).waitFor();
    const choices = await phone.locator('#choices button').allTextContents();
    expect(choices).to.have.length(3).and.include(match);
    await page.screenshot({ path: join(shots, 'demo-phone.png') });

    await phone.locator('#choices button', { hasText: match }).click();
    await shows(phone.locator('#done-text'), 'Done: you are logged in on the website.');
    await shows(page.locator('#openid'), phoneOpenid);
    await shows(page.locator('#me-result'), containing(`"openid": "${phoneOpenid}"`));
    await shows(page.locator('#me-result'), containing('HTTP 200'));
    await page.screenshot({ path: join(shots, 'demo-website.png') });

    // The tokens are this tab's: a reload goes on with the refresh token in sessionStorage.
    await page.reload();
    await shows(page.locator('#me-result'), containing(`"openid": "${phoneOpenid}"`));
    const stored = await page.evaluate(() =>
      (
        globalThis as unknown as { sessionStorage: { getItem(key: string): string | null } }
      ).sessionStorage.getItem('wxauth:web-session'),
    );
    // The phone's user has a unionid (the emulated apps share one open-platform account): kept too.
    expect(JSON.parse(stored!)).to.have.keys('v', 'refreshToken', 'openid', 'unionid', 'refreshExpiresAt');
    expect(errors).to.deep.equal([]);
    await page.close();
  });

  it('logs the same person in through the second mini-program on the phone, and lists the sessions of both apps', async () => {
    const { page, errors } = await open('/demo');
    const phone = page.frameLocator('#phone');
    await shows(phone.locator('#bar'), 'WeChat · Shop mini-program');
    const status = await shows(phone.locator('#phone-status'), /^Logged in to the mini-program as o\S+$/);
    const shopOpenid = status.split(' as ')[1]!;
    await shows(phone.locator('#open-second'), 'Open the Service mini-program');
    await phone.locator('#open-second').click();
    const second = await shows(
      phone.locator('#second-status'),
      /^Logged in to the Service mini-program as o\S+$/,
    );
    // Another openid in the other app, yet one person: the list has the sessions of both.
    expect(second.split(' as ')[1]).not.to.equal(shopOpenid);
    const sessions = phone.locator('#sessions li');
    await shows(sessions.first(), /^Service mini-program · Demo phone · emulated WeChat$/);
    const listed = await sessions.allTextContents();
    expect(listed).to.include('Shop mini-program · Demo phone · emulated WeChat (this one)');
    await phone.locator('#sessions').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(shots, 'demo-apps.png') });
    expect(errors).to.deep.equal([]);
    await page.close();
  });

  it("logs the website in through WeChat's own QR page (/oauth/authorize) as the phone's person, and lists their mini-program session beside it", async () => {
    const { page, errors } = await open('/demo');
    const phone = page.frameLocator('#phone');
    await shows(phone.locator('#phone-status'), /^Logged in to the mini-program as o\S+$/);
    const hint = await shows(
      page.locator('#wechat-person'),
      /^On WeChat's page, scan as the phone's person: o\S+$/,
    );
    const openid = hint.split(': ')[1]!;
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/connect/qrconnect'),
      page.locator('#wechat-login').click(),
    ]);
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/demo'),
      page.getByRole('button', { name: `Scan with the emulator's phone as ${openid}` }).click(),
    ]);
    await shows(page.locator('#openid'), openid);
    await shows(page.locator('#me-result'), containing('HTTP 200'));
    const sessions = page.locator('#sessions li');
    await shows(sessions.first(), /·/);
    const listed = await sessions.allTextContents();
    expect(listed).to.include('Website · Web (website) (this one)');
    expect(listed).to.include('Shop mini-program · Demo phone · emulated WeChat');
    await page.screenshot({ path: join(shots, 'demo-wechat-login.png') });
    expect(errors).to.deep.equal([]);
    await page.close();
  });

  it("opens an official account's page as inside WeChat: the consent sheet's 允许 Allow signs the phone's person in (snsapi_userinfo), their sessions in every app listed", async () => {
    // The phone logs in first: its person is the reader.
    const phonePage = await open('/demo/phone');
    await shows(phonePage.page.locator('#phone-status'), /^Logged in to the mini-program as o\S+$/);
    await phonePage.page.close();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.setViewportSize({ width: 390, height: 760 });
    await page.goto(new URL('/demo/h5', demo).href);
    const hint = await shows(
      page.locator('#h5-person'),
      /^On the consent sheet, pick the phone's person: o\S+ in this official account\.$/,
    );
    const openid = hint.split(': ')[1]!.split(' ')[0]!;
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/connect/oauth2/authorize'),
      page.locator('#h5-signin').click(),
    ]);
    await page.getByLabel(openid).check();
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/demo/h5'),
      page.getByRole('button', { name: '允许 Allow' }).click(),
    ]);
    await shows(page.locator('#h5-openid'), openid);
    const sessions = page.locator('#h5-sessions li');
    await shows(sessions.first(), /·/);
    const listed = await sessions.allTextContents();
    expect(listed).to.include('Official account · Web (official account) (this one)');
    expect(listed).to.include('Shop mini-program · Demo phone · emulated WeChat');
    await page.screenshot({ path: join(shots, 'demo-h5.png') });
    expect(errors).to.deep.equal([]);
    await page.close();
  });

  it('says so on the callback page when the reader refuses on the consent sheet, with a way back', async () => {
    const page = await context.newPage();
    await page.goto(new URL('/demo/h5', demo).href);
    await page.locator('#h5-signin').waitFor();
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/connect/oauth2/authorize'),
      page.locator('#h5-signin').click(),
    ]);
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/demo/oauth/callback'),
      page.getByRole('button', { name: '拒绝 Refuse' }).click(),
    ]);
    await shows(page.locator('#callback-error'), 'access_denied: The sign-in was refused at WeChat.');
    expect(await page.locator('#back').getAttribute('href')).to.equal('/demo/h5');
    await page.close();
  });

  it('shows a new code when the user cancels on the phone', async () => {
    const { page, errors } = await open('/demo');
    await page.locator('#code[src^="data:image/png"]').waitFor();
    const phone = page.frameLocator('#phone');
    // The phone logs in first, then scans; the request shows before the decline (each step waited for:
    // a click that lands before its screen is ready tests nothing).
    await shows(phone.locator('#phone-status'), /^Logged in to the mini-program as o\S+$/);
    await phone.locator('#scan').click();
    await shows(phone.locator('#request-device'), /^Web · Chrome \d+ on Linux$/);
    await phone.locator('#decline').click();
    await shows(page.locator('#status'), 'Canceled on the phone (or another number was picked).');
    await page.locator('#renew').click();
    await shows(page.locator('#status'), 'Scan it with WeChat');
    expect(errors).to.deep.equal([]);
    await page.close();
  });

  it('ends the code when the phone picks another number than the website shows', async () => {
    const { page, errors } = await open('/demo');
    const match = await shows(page.locator('#match'), /^[0-9]{2}$/);
    const phone = page.frameLocator('#phone');
    await shows(phone.locator('#phone-status'), /^Logged in to the mini-program as o\S+$/);
    await phone.locator('#scan').click();
    // allTextContents() does not wait: the three choices must be on the screen first.
    await phone.locator('#choices button').nth(2).waitFor();
    const choices = await phone.locator('#choices button').allTextContents();
    expect(choices).to.have.length(3).and.include(match);
    const wrong = choices.find((choice) => choice !== match)!;
    await phone.locator('#choices button', { hasText: wrong }).click();
    await shows(phone.locator('#phone-error'), /not the number the website shows/);
    await shows(page.locator('#status'), 'Canceled on the phone (or another number was picked).');
    // The refused confirm is the one failed request, and Chromium says so; nothing else went wrong.
    expect(errors).to.deep.equal([
      'Failed to load resource: the server responded with a status of 400 (Bad Request)',
    ]);
    await page.close();
  });

  it('serves its files with their Content-Type, a Content-Security-Policy, and nothing outside them', async () => {
    for (const [path, type] of [
      ['/demo', 'text/html; charset=utf-8'],
      ['/demo/phone', 'text/html; charset=utf-8'],
      ['/demo/h5', 'text/html; charset=utf-8'],
      ['/demo/oauth/callback', 'text/html; charset=utf-8'],
      ['/demo/assets/oauth.js', 'text/javascript; charset=utf-8'],
      ['/demo/assets/inside-wechat.js', 'text/javascript; charset=utf-8'],
      ['/demo/assets/callback.js', 'text/javascript; charset=utf-8'],
      ['/demo/assets/website.js', 'text/javascript; charset=utf-8'],
      ['/demo/assets/demo.css', 'text/css; charset=utf-8'],
      ['/demo/sdk/browser/index.js', 'text/javascript; charset=utf-8'],
      ['/demo/sdk/client/client.js', 'text/javascript; charset=utf-8'],
    ] as const) {
      const res = await fetch(new URL(path, demo));
      expect(res.status, path).to.equal(200);
      expect(res.headers.get('content-type'), path).to.equal(type);
      expect(res.headers.get('content-security-policy'), path).to.contain("script-src 'self'");
      expect(res.headers.get('x-content-type-options'), path).to.equal('nosniff');
    }
    for (const path of [
      '/demo/assets/..%2f..%2fpackage.json',
      '/demo/assets/website.html',
      '/demo/sdk/other/index.js',
      '/demo/sdk/browser/..%2F..%2Fserver.js',
      '/demo/assets/Website.js',
    ]) {
      const res = await fetch(new URL(path, demo));
      expect(res.status, path).to.equal(404);
      expect(((await res.json()) as { error: string }).error, path).to.equal('invalid_request');
    }
  });

  it('is not served when WeChat credentials are set', async () => {
    const emulator = createEmulator();
    await emulator.listen(0);
    const configured = startService({
      entry,
      env: {
        PORT: '0',
        WECHAT_APPID: emulator.appid,
        WECHAT_SECRET: emulator.secret,
        WECHAT_API_BASE: emulator.url,
      },
    });
    try {
      const [line] = await configured.match(/^\{.*"msg":"wxauth listening on.*$/m, 30_000);
      const { port } = JSON.parse(line) as { port: number };
      expect((await fetch(`http://127.0.0.1:${port}/demo`)).status).to.equal(404);
      expect((await fetch(`http://127.0.0.1:${port}/demo/wx/scan`)).status).to.equal(404);
      expect(configured.output()).not.to.contain('/demo in a browser');
    } finally {
      await configured.stop();
      await emulator.close();
    }
  });
});
