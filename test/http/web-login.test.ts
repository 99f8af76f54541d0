import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'chai';
import supertest from 'supertest';
import { createAdminApp } from '../../src/http/index.js';
import { createLogger } from '../../src/lib/index.js';
import { type Harness, harnessForEachTest, type LoginResult, startHarness } from '../helpers/harness.js';
import { pngOfDataUrl, readQrCode } from '../helpers/qr.js';

const TICKET = /^[A-Za-z0-9_-]{22}$/;
const POLL_TOKEN = /^[A-Za-z0-9_-]{43}$/;
const CHROME_ON_WINDOWS =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';

interface Started {
  ticket: string;
  poll_token: string;
  expires_in: number;
  image: string;
  match: string;
}

async function start(h: Harness, headers: Record<string, string> = {}): Promise<Started> {
  const res = await h.http.post('/auth/qr').set(headers).expect(200);
  return res.body as Started;
}

function bearer(token: string) {
  return { Authorization: `Bearer ${token}` };
}

function step(
  h: Harness,
  ticket: string,
  action: 'scan' | 'confirm' | 'cancel',
  token: string,
): supertest.Test {
  return h.http.post(`/auth/qr/${ticket}/${action}`).set(bearer(token));
}

/** The confirm of the user who scanned, with the two digits the website shows. */
function confirm(h: Harness, started: Started, token: string, match = started.match): supertest.Test {
  return step(h, started.ticket, 'confirm', token).send({ match });
}

function poll(h: Harness, started: Started, body: Record<string, unknown> = {}): supertest.Test {
  return h.http.post(`/auth/qr/${started.ticket}/poll`).send({ poll_token: started.poll_token, ...body });
}

function metric(text: string, outcome: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`wxauth_web_logins_total{outcome="${outcome}"}`));
  return line === undefined ? Number.NaN : Number(line.split(' ').pop());
}

describe('Web login by scanning a mini-program code', function () {
  this.timeout(20_000);
  let h: Harness;
  harnessForEachTest({}, (made) => {
    h = made;
  });

  describe('POST /auth/qr', () => {
    it('answers a ticket, a separate poll token, its lifetime and a PNG of a code that opens QR_LOGIN_PAGE with the ticket', async () => {
      const res = await h.http.post('/auth/qr').expect(200);
      expect(res.headers['cache-control']).to.equal('no-store');
      const body = res.body as Started;
      expect(body).to.have.keys('ticket', 'poll_token', 'expires_in', 'image', 'match');
      expect(body.match).to.match(/^[0-9]{2}$/);
      // 22 base64url characters are 132 bits, within the 32 characters a scene takes.
      expect(body.ticket).to.match(TICKET);
      expect(body.poll_token).to.match(POLL_TOKEN);
      expect(body.expires_in).to.equal(120);
      expect(readQrCode(pngOfDataUrl(body.image))).to.equal(`pages/qr-login/index?scene=${body.ticket}`);
      expect(h.emulator.wxacodes()[0]).to.include({ scene: body.ticket, page: 'pages/qr-login/index' });
    });

    it('makes a new ticket and poll token every time', async () => {
      const [a, b] = [await start(h), await start(h)];
      expect(a.ticket).not.to.equal(b.ticket);
      expect(a.poll_token).not.to.equal(b.poll_token);
      expect(a.poll_token).not.to.contain(a.ticket);
    });

    it('keeps only the SHA-256 of the poll token in Redis', async () => {
      const started = await start(h);
      const client = h.redis!.client;
      const key = `${h.redis!.prefix}qr:${started.ticket}`;
      const stored = await client.hgetall(key);
      expect(stored.p).to.equal(createHash('sha256').update(started.poll_token).digest('base64url'));
      expect(JSON.stringify(stored)).not.to.contain(started.poll_token);
    });

    it('answers 502 with the errcode when WeChat refuses the page, and logs which setting to fix', async () => {
      const misconfigured = await startHarness({
        env: { QR_LOGIN_PAGE: 'pages/nowhere/index' },
      });
      try {
        const res = await misconfigured.http.post('/auth/qr').expect(502);
        expect(res.body).to.include({ error: 'upstream_unavailable', wechat_errcode: 41030 });
        expect(misconfigured.logs.join('\n')).to.contain('QR_LOGIN_PAGE');
      } finally {
        await misconfigured.close();
      }
    });

    it("answers 429 with Retry-After when WeChat's quota of codes is spent (45009)", async () => {
      h.emulator.setFault({ api: 'getwxacodeunlimit', mode: 'errcode', errcode: 45009 });
      const res = await h.http.post('/auth/qr').expect(429);
      expect(res.body).to.include({ error: 'rate_limited', wechat_errcode: 45009 });
      expect(res.headers['retry-after']).to.equal('60');
    });

    it('is limited per client address (RATE_LIMIT_QR_PER_IP), before WeChat is asked', async () => {
      const limited = await startHarness({ env: { RATE_LIMIT_QR_PER_IP: '2/60' } });
      try {
        await limited.http.post('/auth/qr').expect(200);
        await limited.http.post('/auth/qr').expect(200);
        const res = await limited.http.post('/auth/qr').expect(429);
        expect(res.body.error).to.equal('rate_limited');
        expect(Number(res.headers['retry-after'])).to.be.within(1, 60);
        expect(limited.emulator.calls('getwxacodeunlimit')).to.equal(2);
      } finally {
        await limited.close();
      }
    });

    it('is capped for the whole app (RATE_LIMIT_QR_PER_APP), whatever the addresses, before WeChat is asked', async () => {
      const capped = await startHarness({
        env: { RATE_LIMIT_QR_PER_APP: '3/60', RATE_LIMIT_QR_PER_IP: '2/60', TRUST_PROXY: '1' },
      });
      try {
        const from = (address: string) => capped.http.post('/auth/qr').set('X-Forwarded-For', address);
        await from('198.51.100.1').expect(200);
        await from('198.51.100.2').expect(200);
        await from('2001:db8:1::1').expect(200);
        for (const address of ['198.51.100.3', '2001:db8:2::1']) {
          const res = await from(address).expect(429);
          expect(res.body.error).to.equal('rate_limited');
          expect(Number(res.headers['retry-after'])).to.be.within(1, 60);
        }
        expect(capped.emulator.calls('getwxacodeunlimit')).to.equal(3);
      } finally {
        await capped.close();
      }
    });
  });

  describe('POST /auth/qr/{ticket}/scan', () => {
    it("answers what the confirm screen shows: when, and the address and browser of the website's request", async () => {
      const behindProxy = await startHarness({ env: { TRUST_PROXY: '1' } });
      try {
        const before = Math.floor(behindProxy.clock.now() / 1000);
        const started = await start(behindProxy, {
          'User-Agent': CHROME_ON_WINDOWS,
          'X-Forwarded-For': '198.51.100.1, 203.0.113.9',
        });
        const phone = await behindProxy.login();
        const res = await step(behindProxy, started.ticket, 'scan', phone.access_token).expect(200);
        expect(res.headers['cache-control']).to.equal('no-store');
        expect(res.body).to.deep.equal({
          ticket: started.ticket,
          created_at: before,
          expires_at: before + 120,
          address: '203.0.113.9',
          user_agent: CHROME_ON_WINDOWS,
          device: 'Web · Chrome 120 on Windows',
          choices: res.body.choices,
        });
      } finally {
        await behindProxy.close();
      }
    });

    it('answers three different two-digit choices, one of them the match, the same to a repeated scan', async () => {
      const orders = new Set<string>();
      for (let i = 0; i < 12; i += 1) {
        const started = await start(h);
        const phone = await h.login();
        const { choices } = (await step(h, started.ticket, 'scan', phone.access_token).expect(200)).body as {
          choices: string[];
        };
        expect(choices).to.have.length(3);
        for (const choice of choices) expect(choice).to.match(/^[0-9]{2}$/);
        expect(new Set(choices).size).to.equal(3);
        expect(choices).to.include(started.match);
        orders.add(String(choices.indexOf(started.match)));
        const again = await step(h, started.ticket, 'scan', phone.access_token).expect(200);
        expect(again.body.choices).to.deep.equal(choices);
      }
      // In random order: over 12 codes the match was not always in the same place.
      expect(orders.size).to.be.above(1);
    });

    it('shows at most 256 printable characters of the user agent', async () => {
      const started = await start(h, { 'User-Agent': `Bot\t${'x'.repeat(500)}` });
      const phone = await h.login();
      const res = await step(h, started.ticket, 'scan', phone.access_token).expect(200);
      expect(res.body.user_agent).to.equal(`Bot ${'x'.repeat(252)}`);
      expect(res.body.device).to.equal('Web · a browser');
    });

    it('answers a repeated scan by the same user again, and 400 invalid_grant to another user', async () => {
      const started = await start(h);
      const [alice, bob] = [await h.login(), await h.login()];
      await step(h, started.ticket, 'scan', alice.access_token).expect(200);
      await step(h, started.ticket, 'scan', alice.access_token).expect(200);
      const res = await step(h, started.ticket, 'scan', bob.access_token).expect(400);
      expect(res.body.error).to.equal('invalid_grant');
      expect(res.body.error_description).to.contain('another');
    });

    it("requires the scanning user's access token", async () => {
      const started = await start(h);
      const res = await h.http.post(`/auth/qr/${started.ticket}/scan`).expect(401);
      expect(res.headers['www-authenticate']).to.equal('Bearer realm="wxauth"');
      await h.http.post(`/auth/qr/${started.ticket}/scan`).set(bearer('nonsense')).expect(401);
    });

    it('answers 400 invalid_grant for a ticket it never made, and invalid_request for one not shaped like a ticket', async () => {
      const phone = await h.login();
      const unknown = await step(h, 'AAAAAAAAAAAAAAAAAAAAAA', 'scan', phone.access_token).expect(400);
      expect(unknown.body.error).to.equal('invalid_grant');
      for (const bad of ['short', 'A'.repeat(23), 'AAAAAAAAAAAAAAAAAAAAA%3D', '%F0%9F%98%80'.repeat(6)]) {
        const res = await step(h, bad, 'scan', phone.access_token);
        expect(res.status, bad).to.equal(400);
        expect(res.body.error, bad).to.equal('invalid_request');
      }
    });
  });

  describe('POST /auth/qr/{ticket}/confirm and /cancel', () => {
    it('lets only the user who scanned confirm: 204 for them, 400 invalid_grant for another', async () => {
      const started = await start(h);
      const [alice, bob] = [await h.login(), await h.login()];
      await step(h, started.ticket, 'scan', alice.access_token).expect(200);
      expect((await step(h, started.ticket, 'confirm', bob.access_token).expect(400)).body.error).to.equal(
        'invalid_grant',
      );
      expect((await step(h, started.ticket, 'cancel', bob.access_token).expect(400)).body.error).to.equal(
        'invalid_grant',
      );
      const res = await confirm(h, started, alice.access_token).expect(204);
      expect(res.text).to.equal('');
    });

    it('answers 400 invalid_grant to a confirm before a scan, and to anything after a confirm or a cancel', async () => {
      const [a, b] = [await start(h), await start(h)];
      const alice = await h.login();
      await step(h, a.ticket, 'confirm', alice.access_token).expect(400);
      await step(h, a.ticket, 'scan', alice.access_token).expect(200);
      await confirm(h, a, alice.access_token).expect(204);
      for (const action of ['scan', 'confirm', 'cancel'] as const) {
        expect((await step(h, a.ticket, action, alice.access_token).expect(400)).body.error).to.equal(
          'invalid_grant',
        );
      }
      await step(h, b.ticket, 'scan', alice.access_token).expect(200);
      await step(h, b.ticket, 'cancel', alice.access_token).expect(204);
      const after = await step(h, b.ticket, 'confirm', alice.access_token).expect(400);
      expect(after.body.error_description).to.contain('canceled');
    });

    for (const [what, body] of [
      ['a wrong match', (match: string) => ({ match: String((Number(match) + 1) % 100).padStart(2, '0') })],
      ['no match', () => ({})],
      ['a match that is not a string', (match: string) => ({ match: Number(match) })],
    ] as const) {
      it(`answers 400 invalid_grant to a confirm with ${what}, and the ticket is over: the poll says canceled`, async () => {
        const started = await start(h);
        const alice = await h.login();
        await step(h, started.ticket, 'scan', alice.access_token).expect(200);
        const res = await step(h, started.ticket, 'confirm', alice.access_token)
          .send(body(started.match))
          .expect(400);
        expect(res.body.error).to.equal('invalid_grant');
        expect(res.body.error_description).to.contain('number');
        expect((await poll(h, started).expect(200)).body).to.deep.equal({ status: 'canceled' });
        const late = await confirm(h, started, alice.access_token).expect(400);
        expect(late.body.error).to.equal('invalid_grant');
        expect((await poll(h, started).expect(200)).body).to.deep.equal({ status: 'canceled' });
      });
    }

    it("leaves the ticket to its scanner when another user's confirm names a wrong match", async () => {
      const started = await start(h);
      const [alice, mallory] = [await h.login(), await h.login()];
      await step(h, started.ticket, 'scan', alice.access_token).expect(200);
      await step(h, started.ticket, 'confirm', mallory.access_token).send({ match: 'xx' }).expect(400);
      await confirm(h, started, alice.access_token).expect(204);
      expect((await poll(h, started).expect(200)).body).to.include({
        status: 'confirmed',
        openid: alice.openid,
      });
    });

    it('answers 400 invalid_grant once the ticket expired (QR_LOGIN_TTL)', async () => {
      const started = await start(h);
      const alice = await h.login();
      await step(h, started.ticket, 'scan', alice.access_token).expect(200);
      h.clock.advance(120_000);
      const res = await step(h, started.ticket, 'confirm', alice.access_token).expect(400);
      expect(res.body.error).to.equal('invalid_grant');
      expect(res.body.error_description).to.contain('expired');
    });
  });

  describe('POST /auth/qr/{ticket}/poll', () => {
    it('answers pending at once without a wait', async () => {
      const started = await start(h);
      const res = await poll(h, started).expect(200);
      expect(res.body).to.deep.equal({ status: 'pending' });
      expect(res.headers['cache-control']).to.equal('no-store');
    });

    it('answers 400 invalid_grant to a wrong poll token, and invalid_request to a missing one or a bad wait', async () => {
      const started = await start(h);
      const other = await start(h);
      const wrong = await h.http
        .post(`/auth/qr/${started.ticket}/poll`)
        .send({ poll_token: other.poll_token })
        .expect(400);
      expect(wrong.body.error).to.equal('invalid_grant');
      for (const body of [{}, { poll_token: 5 }, { poll_token: started.poll_token, wait: -1 }]) {
        const res = await h.http.post(`/auth/qr/${started.ticket}/poll`).send(body).expect(400);
        expect(res.body.error, JSON.stringify(body)).to.equal('invalid_request');
      }
      const badStatus = await poll(h, started, { status: 'whatever' }).expect(400);
      expect(badStatus.body.error).to.equal('invalid_request');
    });

    it('waits for the scan and answers scanned as soon as it lands', async () => {
      const started = await start(h);
      const alice = await h.login();
      const sent = performance.now();
      const answer = poll(h, started, { wait: 10 }).then((res) => ({ res, at: performance.now() }));
      await new Promise((resolve) => setTimeout(resolve, 300));
      const scannedAt = performance.now();
      await step(h, started.ticket, 'scan', alice.access_token).expect(200);
      const { res, at } = await answer;
      expect(res.body).to.deep.equal({ status: 'scanned' });
      expect(at - sent).to.be.at.least(250);
      expect(at - scannedAt).to.be.below(500);
    });

    it('answers after `wait` seconds with the status as it was when nothing changed', async () => {
      const started = await start(h);
      const sent = performance.now();
      const res = await poll(h, started, { wait: 1 }).expect(200);
      expect(res.body).to.deep.equal({ status: 'pending' });
      expect(performance.now() - sent).to.be.within(900, 1800);
    });

    it('answers at once when the ticket is no longer at the status the browser last saw', async () => {
      const started = await start(h);
      const alice = await h.login();
      await step(h, started.ticket, 'scan', alice.access_token).expect(200);
      const sent = performance.now();
      const res = await poll(h, started, { wait: 10, status: 'pending' }).expect(200);
      expect(res.body).to.deep.equal({ status: 'scanned' });
      expect(performance.now() - sent).to.be.below(500);
    });

    it('once confirmed, answers the token response of a new web session for that openid, to its poll token only', async () => {
      const started = await start(h, { 'User-Agent': CHROME_ON_WINDOWS });
      const alice = await h.login();
      await step(h, started.ticket, 'scan', alice.access_token).expect(200);
      const waiting = poll(h, started, { wait: 10, status: 'scanned' });
      await new Promise((resolve) => setTimeout(resolve, 100));
      await confirm(h, started, alice.access_token).expect(204);
      const res = await waiting.expect(200);
      expect(res.headers['cache-control']).to.equal('no-store');
      expect(res.body).to.include({ status: 'confirmed', token_type: 'Bearer', openid: alice.openid });
      expect(res.body).to.have.keys(
        'status',
        'access_token',
        'token_type',
        'expires_in',
        'refresh_token',
        'refresh_expires_in',
        'openid',
      );
      expect(res.body.access_token).not.to.equal(alice.access_token);
      const other = await start(h);
      const stranger = await h.http
        .post(`/auth/qr/${started.ticket}/poll`)
        .send({ poll_token: other.poll_token })
        .expect(400);
      expect(stranger.body.error).to.equal('invalid_grant');

      const me = await h.http.get('/auth/me').set(bearer(res.body.access_token)).expect(200);
      expect(me.body.openid).to.equal(alice.openid);
      const listed = await h.http.get('/auth/sessions').set(bearer(res.body.access_token)).expect(200);
      const web = (listed.body.sessions as Array<{ device?: string; current: boolean }>).find(
        (s) => s.current,
      );
      expect(web?.device).to.equal('Web · Chrome 120 on Windows');
      const rotated = await h.http
        .post('/auth/refresh')
        .send({ refresh_token: res.body.refresh_token })
        .expect(200);
      expect(rotated.body.openid).to.equal(alice.openid);
    });

    it('answers the same tokens again to the same poll token within 30 s of the delivery (a lost answer), then 400', async () => {
      const started = await start(h);
      const alice = await h.login();
      await step(h, started.ticket, 'scan', alice.access_token).expect(200);
      await confirm(h, started, alice.access_token).expect(204);
      const first = await poll(h, started).expect(200);
      expect(first.body).to.include({ status: 'confirmed', openid: alice.openid });
      h.clock.advance(29_000);
      const again = await poll(h, started, { wait: 10, status: 'scanned' }).expect(200);
      // The same tokens, their lifetimes counted from now.
      expect(again.body).to.deep.equal({
        ...first.body,
        expires_in: first.body.expires_in - 29,
        refresh_expires_in: first.body.refresh_expires_in - 29,
      });
      // One session was opened, not two, and the tokens collected again are its own.
      const listed = await h.http.get('/auth/sessions').set(bearer(again.body.access_token)).expect(200);
      expect(listed.body.sessions).to.have.length(2);
      await h.http.post('/auth/refresh').send({ refresh_token: again.body.refresh_token }).expect(200);
      h.clock.advance(1000);
      const late = await poll(h, started).expect(400);
      expect(late.body.error).to.equal('invalid_grant');
    });

    it('answers scanned, not 400, to a poll that comes while another poll is opening the session, and the tokens to the next', async () => {
      const started = await start(h);
      const alice = await h.login();
      await step(h, started.ticket, 'scan', alice.access_token).expect(200);
      await confirm(h, started, alice.access_token).expect(204);
      // The first poll's claim, as it stands while that poll opens the session (or after it died doing so).
      const pollHash = createHash('sha256').update(started.poll_token).digest('base64url');
      const claimed = await h.store
        .webLogins()
        .advanceWebLogin(started.ticket, { step: 'claim', pollHash }, h.clock.now());
      expect(claimed.kind).to.equal('advanced');
      const retried = await poll(h, started, { wait: 1 }).expect(200);
      expect(retried.body).to.deep.equal({ status: 'scanned' });
      // The claim given back (its session did not open): the next poll opens it.
      await h.store.webLogins().advanceWebLogin(started.ticket, { step: 'release', pollHash }, h.clock.now());
      const next = await poll(h, started).expect(200);
      expect(next.body).to.include({ status: 'confirmed', openid: alice.openid });
    });

    it('cancels a ticket confirmed by an instance that named no confirming session (a rolling deploy), opening nothing', async () => {
      const started = await start(h);
      const alice = await h.login();
      await step(h, started.ticket, 'scan', alice.access_token).expect(200);
      await confirm(h, started, alice.access_token).expect(204);
      // What a confirm by the previous version leaves: no session recorded on the ticket.
      await h.redis!.client.hdel(`${h.redis!.prefix}qr:${started.ticket}`, 'i');
      expect((await poll(h, started).expect(200)).body).to.deep.equal({ status: 'canceled' });
      const listed = await h.http.get('/auth/sessions').set(bearer(alice.access_token)).expect(200);
      expect(listed.body.sessions).to.have.length(1);
    });

    it('keeps no token of the delivery readable in Redis: the answer kept for a second collection is sealed', async () => {
      const started = await start(h);
      const alice = await h.login();
      await step(h, started.ticket, 'scan', alice.access_token).expect(200);
      await confirm(h, started, alice.access_token).expect(204);
      const res = await poll(h, started).expect(200);
      const stored = JSON.stringify(await h.redis!.client.hgetall(`${h.redis!.prefix}qr:${started.ticket}`));
      for (const secret of [res.body.refresh_token, res.body.access_token, started.poll_token]) {
        expect(stored).not.to.contain(secret);
        expect(stored).not.to.contain(secret.slice(0, 24));
      }
    });

    it("leaves the website 30 s to collect after a confirm at the ticket's last second", async () => {
      const [a, b] = [await start(h), await start(h)];
      const alice = await h.login();
      for (const started of [a, b]) await step(h, started.ticket, 'scan', alice.access_token).expect(200);
      h.clock.advance(119_999);
      await confirm(h, a, alice.access_token).expect(204);
      await confirm(h, b, alice.access_token).expect(204);
      h.clock.advance(29_000);
      expect((await poll(h, a).expect(200)).body).to.include({ status: 'confirmed', openid: alice.openid });
      h.clock.advance(1001);
      expect((await poll(h, b).expect(200)).body).to.deep.equal({ status: 'expired' });
    });

    it("keeps the mini-program's session_key: open data still decrypts after the web login", async () => {
      const started = await start(h);
      const alice = await h.login();
      await step(h, started.ticket, 'scan', alice.access_token).expect(200);
      await confirm(h, started, alice.access_token).expect(204);
      await poll(h, started).expect(200);
      const sealed = h.emulator.encrypt(alice.openid, 'raw', { hello: 'world' });
      const res = await h.http
        .post('/wechat/decrypt')
        .set(bearer(alice.access_token))
        .send(sealed)
        .expect(200);
      expect(res.body).to.include({ hello: 'world' });
    });

    it('answers canceled after a cancel, and expired once QR_LOGIN_TTL has passed', async () => {
      const [a, b] = [await start(h), await start(h)];
      const alice = await h.login();
      await step(h, a.ticket, 'scan', alice.access_token).expect(200);
      await step(h, a.ticket, 'cancel', alice.access_token).expect(204);
      expect((await poll(h, a).expect(200)).body).to.deep.equal({ status: 'canceled' });
      h.clock.advance(120_000);
      expect((await poll(h, b).expect(200)).body).to.deep.equal({ status: 'expired' });
      expect((await poll(h, b, { wait: 5 }).expect(200)).body).to.deep.equal({ status: 'expired' });
    });

    it('counts tickets by outcome in /metrics: created, scanned, confirmed, canceled, expired', async () => {
      const [a, b, c] = [await start(h), await start(h), await start(h)];
      const alice = await h.login();
      await step(h, a.ticket, 'scan', alice.access_token).expect(200);
      await step(h, a.ticket, 'scan', alice.access_token).expect(200);
      await confirm(h, a, alice.access_token).expect(204);
      await step(h, b.ticket, 'scan', alice.access_token).expect(200);
      await step(h, b.ticket, 'cancel', alice.access_token).expect(204);
      h.clock.advance(120_000);
      await poll(h, c).expect(200);
      await poll(h, c).expect(200);
      const text = (await h.http.get('/metrics').expect(200)).text;
      expect(metric(text, 'created')).to.equal(3);
      expect(metric(text, 'scanned')).to.equal(2);
      expect(metric(text, 'confirmed')).to.equal(1);
      expect(metric(text, 'canceled')).to.equal(1);
      expect(metric(text, 'expired')).to.equal(1);
    });
  });

  describe('poll edge cases', () => {
    it("answers canceled to the poll of a banned user's confirmed ticket, also once the ban is lifted", async () => {
      const started = await start(h);
      const alice = await h.login();
      await step(h, started.ticket, 'scan', alice.access_token).expect(200);
      await confirm(h, started, alice.access_token).expect(204);
      await h.store.banUser(alice.openid, { reason: 'abuse' }, h.clock.now());
      await h.store.liftBan(alice.openid);
      expect((await poll(h, started).expect(200)).body).to.deep.equal({ status: 'canceled' });
    });

    it('lets at most 4 polls of one ticket wait on one instance: a fifth answers at once', async () => {
      const started = await start(h);
      const waiting = Array.from({ length: 4 }, () =>
        poll(h, started, { wait: 2 }).then(() => performance.now()),
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      const sent = performance.now();
      await poll(h, started, { wait: 2 }).expect(200);
      expect(performance.now() - sent).to.be.below(500);
      for (const answered of await Promise.all(waiting)) expect(answered - sent).to.be.above(1000);
    });

    it('hands no tokens to a poll whose browser went away: the next poll gets them', async () => {
      const started = await start(h);
      const alice = await h.login();
      await step(h, started.ticket, 'scan', alice.access_token).expect(200);
      const server = h.app.listen(0, '127.0.0.1');
      await new Promise((resolve) => server.once('listening', resolve));
      try {
        const { port } = server.address() as { port: number };
        const gone = new AbortController();
        const abandoned = fetch(`http://127.0.0.1:${port}/auth/qr/${started.ticket}/poll`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ poll_token: started.poll_token, wait: 10, status: 'scanned' }),
          signal: gone.signal,
        }).catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 200));
        gone.abort();
        await abandoned;
        await new Promise((resolve) => setTimeout(resolve, 100));
        await confirm(h, started, alice.access_token).expect(204);
        await new Promise((resolve) => setTimeout(resolve, 200));
        const res = await poll(h, started).expect(200);
        expect(res.body).to.include({ status: 'confirmed', openid: alice.openid });
      } finally {
        server.close();
      }
    });
  });

  describe('routes and methods', () => {
    it('answers 405 with Allow: POST to other methods on every web-login route', async () => {
      const started = await start(h);
      for (const path of [
        '/auth/qr',
        ...['scan', 'confirm', 'cancel', 'poll'].map((a) => `/auth/qr/${started.ticket}/${a}`),
      ]) {
        const res = await h.http.get(path);
        expect(res.status, path).to.equal(405);
        expect(res.headers.allow, path).to.equal('POST');
      }
      await h.http.post(`/auth/qr/${started.ticket}`).expect(404);
      await h.http.post(`/auth/qr/${started.ticket}/poll/`).expect(404);
    });
  });
});

describe('Web login across two instances of the service', function () {
  this.timeout(20_000);
  let a: Harness;
  let b: Harness;
  beforeEach(async () => {
    a = await startHarness();
    b = await startHarness({ peer: a });
  });
  afterEach(async () => {
    await b.close();
    await a.close();
  });

  it('wakes a poll waiting on one instance as soon as the scan, then the confirm, land on the other', async () => {
    const started = await start(a);
    const alice = await a.login();
    const waitScan = poll(b, started, { wait: 15 }).then((res) => ({ res, at: performance.now() }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const scannedAt = performance.now();
    await step(a, started.ticket, 'scan', alice.access_token).expect(200);
    const scanned = await waitScan;
    expect(scanned.res.body).to.deep.equal({ status: 'scanned' });
    // Well under the fallback re-check: the change was heard through Redis, not found by asking again.
    expect(scanned.at - scannedAt).to.be.below(500);

    const waitConfirm = poll(b, started, { wait: 15, status: 'scanned' }).then((res) => ({
      res,
      at: performance.now(),
    }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const confirmedAt = performance.now();
    await confirm(a, started, alice.access_token).expect(204);
    const confirmed = await waitConfirm;
    expect(confirmed.at - confirmedAt).to.be.below(500);
    expect(confirmed.res.body).to.include({ status: 'confirmed', openid: alice.openid });
    await a.http.get('/auth/me').set(bearer(confirmed.res.body.access_token)).expect(200);
  });

  it('still answers a waiting poll within seconds when the change message was lost', async () => {
    const started = await start(a);
    const alice = await a.login();
    const waitScan = poll(b, started, { wait: 15 }).then((res) => ({ res, at: performance.now() }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Every subscriber is cut before the scan: its message reaches no one.
    await a.redis!.client.client('KILL', 'TYPE', 'pubsub');
    const scannedAt = performance.now();
    await step(a, started.ticket, 'scan', alice.access_token).expect(200);
    const { res, at } = await waitScan;
    expect(res.body).to.deep.equal({ status: 'scanned' });
    expect(at - scannedAt).to.be.below(3000);
  });
});

describe('Web login: a confirmed ticket outlives no ending of the session that confirmed it', function () {
  this.timeout(20_000);
  const ADMIN_KEY = randomBytes(24).toString('base64url');
  let h: Harness;
  let admin: ReturnType<typeof supertest>;
  harnessForEachTest(
    { env: { ADMIN_API_KEYS: ADMIN_KEY, ADMIN_PORT: '0', RATE_LIMIT_ADMIN_PER_IP: '0' } },
    (made) => {
      h = made;
      admin = supertest(
        createAdminApp(h.config, { ...h, logger: createLogger({ level: 'silent' }) }).callback(),
      );
    },
  );
  const asAdmin = { Authorization: `Bearer ${ADMIN_KEY}` };

  /** Alice scans and confirms a new ticket with her phone's session: the browser has not polled yet. */
  async function confirmed(alice: LoginResult): Promise<Started> {
    const started = await start(h);
    await step(h, started.ticket, 'scan', alice.access_token).expect(200);
    await confirm(h, started, alice.access_token).expect(204);
    return started;
  }

  const endings: Array<[string, (alice: LoginResult) => Promise<unknown>]> = [
    [
      'a logout everywhere',
      (alice) => h.http.post('/auth/logout').set(bearer(alice.access_token)).send({ all: true }).expect(204),
    ],
    [
      'a logout of the confirming session',
      (alice) =>
        h.http
          .post('/auth/logout')
          .set(bearer(alice.access_token))
          .send({ refresh_token: alice.refresh_token })
          .expect(204),
    ],
    [
      'the confirming session ended from the list',
      async (alice) => {
        const listed = await h.http.get('/auth/sessions').set(bearer(alice.access_token)).expect(200);
        const current = (listed.body.sessions as Array<{ id: string; current: boolean }>).find(
          (s) => s.current,
        );
        await h.http.delete(`/auth/sessions/${current!.id}`).set(bearer(alice.access_token)).expect(204);
      },
    ],
    [
      'an account deletion',
      (alice) => h.http.delete('/auth/account').set(bearer(alice.access_token)).expect(204),
    ],
    [
      'an admin logout',
      (alice) => admin.post(`/admin/users/${alice.openid}/logout`).set(asAdmin).expect(204),
    ],
    ['an admin deletion', (alice) => admin.delete(`/admin/users/${alice.openid}`).set(asAdmin).expect(204)],
    [
      'a ban',
      (alice) =>
        admin.put(`/admin/users/${alice.openid}/ban`).set(asAdmin).send({ reason: 'abuse' }).expect(204),
    ],
  ];

  for (const [ending, end] of endings) {
    it(`answers canceled, and opens no session, when ${ending} came after the confirm`, async () => {
      const alice = await h.login();
      const started = await confirmed(alice);
      await end(alice);
      const res = await poll(h, started).expect(200);
      expect(res.body).to.deep.equal({ status: 'canceled' });
      expect((await poll(h, started).expect(200)).body).to.deep.equal({ status: 'canceled' });
      expect(await h.store.listSessions(alice.openid, h.clock.now())).to.deep.equal([]);
    });
  }

  it('opens no user record again after a deletion: the admin API then knows nothing of the user', async () => {
    const alice = await h.login();
    const started = await confirmed(alice);
    await h.http.delete('/auth/account').set(bearer(alice.access_token)).expect(204);
    await poll(h, started).expect(200);
    await admin.get(`/admin/users/${alice.openid}`).set(asAdmin).expect(404);
    expect(await h.redis!.client.keys(`${h.redis!.prefix}{${alice.openid}}*`)).to.deep.equal([]);
    // A later login starts afresh.
    expect((await h.login(alice.openid)).is_new_user).to.equal(true);
  });

  it("still delivers when another of the user's sessions ended after the confirm", async () => {
    const phone = await h.login();
    const tablet = await h.login(phone.openid);
    const started = await confirmed(phone);
    await h.http
      .post('/auth/logout')
      .set(bearer(tablet.access_token))
      .send({ refresh_token: tablet.refresh_token })
      .expect(204);
    const res = await poll(h, started).expect(200);
    expect(res.body).to.include({ status: 'confirmed', openid: phone.openid });
  });
});

describe('the admin API and a user whose session_key cannot be read', function () {
  this.timeout(20_000);
  const ADMIN_KEY = randomBytes(24).toString('base64url');
  const atRestKey = (kid: string) => `${kid}:${randomBytes(32).toString('base64')}`;

  it('knows a user with live sessions when the at-rest key that sealed their session_key is gone: lookup 200, logout and ban 204', async () => {
    const env = { ADMIN_API_KEYS: ADMIN_KEY, ADMIN_PORT: '0', RATE_LIMIT_ADMIN_PER_IP: '0' };
    const first = await startHarness({ env: { ...env, SESSION_KEY_ENCRYPTION_KEYS: atRestKey('k1') } });
    const lost = await startHarness({
      peer: first,
      env: { ...env, SESSION_KEY_ENCRYPTION_KEYS: atRestKey('k9') },
    });
    try {
      const alice = await first.login();
      const admin = supertest(
        createAdminApp(lost.config, { ...lost, logger: createLogger({ level: 'silent' }) }).callback(),
      );
      const asAdmin = { Authorization: `Bearer ${ADMIN_KEY}` };
      const found = await admin.get(`/admin/users/${alice.openid}`).set(asAdmin).expect(200);
      expect(found.body).to.include({ openid: alice.openid });
      expect(found.body.sessions).to.have.length(1);
      await admin.post(`/admin/users/${alice.openid}/logout`).set(asAdmin).expect(204);
      await admin.put(`/admin/users/${alice.openid}/ban`).set(asAdmin).send({}).expect(204);
      await lost.http.get('/auth/me').set(bearer(alice.access_token)).expect(401);
    } finally {
      await lost.close();
      await first.close();
    }
  });
});
