import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { AuthError, DEFAULT_STORAGE_KEY } from '../../src/client/index.js';
import { rejectionOf } from '../helpers/rejection.js';
import { type LiveService, startLiveService } from './service.js';

const CHROME_ON_MAC =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36';

interface Started {
  ticket: string;
  poll_token: string;
  match: string;
}

const rejection = (promise: Promise<unknown>) => rejectionOf(promise, AuthError);

describe('Mini-program client: confirming a web login against the real service', () => {
  let s: LiveService;
  beforeEach(async () => {
    s = await startLiveService();
  });
  afterEach(async () => {
    await s.close();
  });

  /** The website: a ticket, as a browser asks for it. */
  async function website(): Promise<Started> {
    const res = await fetch(`${s.baseUrl}/auth/qr`, {
      method: 'POST',
      headers: { 'user-agent': CHROME_ON_MAC },
    });
    expect(res.status).to.equal(200);
    return (await res.json()) as Started;
  }

  async function poll(started: Started): Promise<Record<string, unknown>> {
    const res = await fetch(`${s.baseUrl}/auth/qr/${started.ticket}/poll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ poll_token: started.poll_token }),
    });
    return (await res.json()) as Record<string, unknown>;
  }

  it("scans the page's options.scene as WeChat hands it (URI-encoded) and answers what the confirm screen shows", async () => {
    const started = await website();
    const { auth } = s.phone();
    const shown = await auth.scanWebLogin(encodeURIComponent(started.ticket));
    const createdAt = Math.floor(s.h.clock.now() / 1000) * 1000;
    expect(shown).to.deep.equal({
      ticket: started.ticket,
      createdAt,
      expiresAt: createdAt + 120_000,
      address: '127.0.0.1',
      userAgent: CHROME_ON_MAC,
      device: 'Web · Chrome 121 on macOS',
      choices: shown.choices,
    });
    expect(shown.choices).to.have.length(3).and.include(started.match);
    expect(await poll(started)).to.deep.equal({ status: 'scanned' });
  });

  it('answers no choices, rather than failing, from a service of the version before number matching', async () => {
    // The real service behind a proxy that answers the scan as that version did: without choices.
    const proxy = createServer(async (req, res) => {
      let body = '';
      for await (const chunk of req) body += chunk;
      const upstream = await fetch(`${s.baseUrl}${req.url}`, {
        method: req.method ?? 'GET',
        headers: Object.fromEntries(
          Object.entries(req.headers).filter(([name]) => ['authorization', 'content-type'].includes(name)),
        ) as Record<string, string>,
        ...(body === '' ? {} : { body }),
      });
      let text = await upstream.text();
      if (req.url?.endsWith('/scan') && upstream.status === 200) {
        const { choices: _, ...before } = JSON.parse(text) as Record<string, unknown>;
        text = JSON.stringify(before);
      }
      res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(text);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const started = await website();
      const { auth } = s.phone({ baseUrl: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` });
      const shown = await auth.scanWebLogin(started.ticket);
      expect(shown).to.include({ ticket: started.ticket, device: 'Web · Chrome 121 on macOS' });
      expect(shown.choices).to.deep.equal([]);
    } finally {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });

  it('logs in first when the mini-program has no session yet, then confirms: the website gets its own session', async () => {
    const started = await website();
    const { auth, wx } = s.phone();
    const shown = await auth.scanWebLogin(started.ticket);
    expect(wx.logins()).to.equal(1);
    await auth.confirmWebLogin(shown.ticket, started.match);
    const answer = await poll(started);
    expect(answer).to.include({ status: 'confirmed', openid: wx.openid });
    const phone = wx.storage.get(DEFAULT_STORAGE_KEY) as { accessToken: string };
    expect(answer.access_token).to.be.a('string').and.not.equal(phone.accessToken);
    expect(auth.session()).to.deep.equal({ openid: wx.openid });
  });

  it('rejects a confirm that picked another number with invalid_grant, and the website is told canceled', async () => {
    const started = await website();
    const { auth } = s.phone();
    const shown = await auth.scanWebLogin(started.ticket);
    const wrong = shown.choices.find((choice) => choice !== started.match)!;
    const refused = await rejection(auth.confirmWebLogin(shown.ticket, wrong));
    expect(refused).to.include({ code: 'invalid_grant', status: 400 });
    expect(await poll(started)).to.deep.equal({ status: 'canceled' });
  });

  it("cancels: the website's poll says canceled", async () => {
    const started = await website();
    const { auth } = s.phone();
    await auth.scanWebLogin(started.ticket);
    await auth.cancelWebLogin(started.ticket);
    expect(await poll(started)).to.deep.equal({ status: 'canceled' });
  });

  it('rejects with invalid_grant a code another user scanned, or one that expired', async () => {
    const started = await website();
    await s.phone().auth.scanWebLogin(started.ticket);
    const other = s.phone();
    const taken = await rejection(other.auth.scanWebLogin(started.ticket));
    expect(taken).to.include({ code: 'invalid_grant', status: 400 });
    expect(taken.message).to.contain('another user');
    const late = await website();
    s.h.clock.advance(120_000);
    expect(await rejection(other.auth.scanWebLogin(late.ticket))).to.include({ code: 'invalid_grant' });
  });

  it("refuses a scene that is not a web login's without sending anything", async () => {
    const { auth, wx } = s.phone();
    for (const scene of ['id=42&from=poster', '../../auth/logout', '', 'a'.repeat(33)]) {
      expect(await rejection(auth.scanWebLogin(scene)), scene).to.include({ code: 'invalid_request' });
    }
    expect(await rejection(auth.confirmWebLogin('not a ticket', '42'))).to.include({
      code: 'invalid_request',
    });
    expect(wx.calls).to.deep.equal([]);
  });
});
