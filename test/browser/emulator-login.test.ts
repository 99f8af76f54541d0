import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import type { Browser } from 'playwright-core';
import { createEmulator, type EmulatedApp, type Emulator, zeroConfigApps } from '../../src/emulator/index.js';
import { launchChromium } from '../helpers/chromium.js';

describe("the emulator's WeChat login pages, in Chromium through Playwright", function () {
  this.timeout(60_000);
  let browser: Browser;
  let emulator: Emulator;
  let account: EmulatedApp;
  let website: EmulatedApp;
  let callback: Server;
  let callbackUrl: string;
  /** The queries the service's redirect_uri received, in order. */
  let received: Array<Record<string, string>>;

  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  beforeEach(async () => {
    emulator = createEmulator({ apps: zeroConfigApps() });
    [, , , account, website] = emulator.apps as [
      EmulatedApp,
      EmulatedApp,
      EmulatedApp,
      EmulatedApp,
      EmulatedApp,
    ];
    await emulator.listen(0);
    received = [];
    // The service's callback: records what WeChat's redirect brought and says so.
    callback = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://callback.invalid');
      if (url.pathname === '/wechat/callback') received.push(Object.fromEntries(url.searchParams));
      res.writeHead(200, { 'content-type': 'text/plain' }).end('landed');
    });
    await new Promise<void>((resolve) => callback.listen(0, '127.0.0.1', resolve));
    callbackUrl = `http://127.0.0.1:${(callback.address() as AddressInfo).port}/wechat/callback`;
  });
  afterEach(async () => {
    await emulator.close();
    await new Promise<void>((resolve) => callback.close(() => resolve()));
  });

  async function exchange(app: EmulatedApp, code: string) {
    const query = new URLSearchParams({
      appid: app.appid,
      secret: app.secret,
      code,
      grant_type: 'authorization_code',
    });
    return JSON.parse(
      await (await fetch(`${emulator.url}/sns/oauth2/access_token?${query}`)).text(),
    ) as Record<string, unknown>;
  }

  it('consent (snsapi_userinfo): pick a person, 允许 Allow, land on redirect_uri with a code for that person and the state', async () => {
    emulator.createUser({ unionid: true });
    const chosen = emulator.createUser({ unionid: true });
    const query = new URLSearchParams({
      appid: account.appid,
      redirect_uri: callbackUrl,
      response_type: 'code',
      scope: 'snsapi_userinfo',
      state: 'st-browser',
    });
    const page = await browser.newPage();
    try {
      await page.goto(`${emulator.url}/connect/oauth2/authorize?${query}#wechat_redirect`);
      expect(await page.locator('#app-name').textContent()).to.equal('Official account');
      await page.getByLabel(chosen.openids[account.appid]!).check();
      await Promise.all([
        page.waitForURL((url) => url.href.startsWith(callbackUrl)),
        page.getByRole('button', { name: '允许 Allow' }).click(),
      ]);
      expect(await page.locator('body').textContent()).to.equal('landed');
    } finally {
      await page.close();
    }
    expect(received).to.have.length(1);
    expect(received[0]).to.have.keys('code', 'state');
    expect(received[0]!.state).to.equal('st-browser');
    const token = await exchange(account, received[0]!.code!);
    expect(token).to.include({
      openid: chosen.openids[account.appid],
      scope: 'snsapi_userinfo',
      unionid: chosen.unionid,
    });
  });

  it("website QR page: the emulator's phone scans as a new person, and the browser lands on redirect_uri with a code", async () => {
    const query = new URLSearchParams({
      appid: website.appid,
      redirect_uri: callbackUrl,
      response_type: 'code',
      scope: 'snsapi_login',
      state: 'web',
    });
    const page = await browser.newPage();
    try {
      await page.goto(`${emulator.url}/connect/qrconnect?${query}`);
      // The QR picture is there and drawn (a decoded image has a width).
      expect(
        await page.locator('#qrcode').evaluate((img: HTMLImageElement) => img.naturalWidth),
      ).to.be.greaterThan(0);
      await Promise.all([
        page.waitForURL((url) => url.href.startsWith(callbackUrl)),
        page.getByRole('button', { name: "Scan with the emulator's phone as a new person" }).click(),
      ]);
    } finally {
      await page.close();
    }
    expect(received).to.have.length(1);
    expect(received[0]!.state).to.equal('web');
    expect((await exchange(website, received[0]!.code!)).scope).to.equal('snsapi_login');
  });
});
