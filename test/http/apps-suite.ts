import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { decodeJwt } from 'jose';
import supertest from 'supertest';
import { createAdminApp } from '../../src/http/index.js';
import { createLogger } from '../../src/lib/index.js';
import { type Harness, type LoginResult, startHarness } from '../helpers/harness.js';
import { freshPrefix } from '../setup/hooks.js';

/**
 * Several WeChat apps, one person, over real HTTP and Redis: two mini-programs and a mobile App bound to
 * one open-platform account (the emulator gives the person one unionid and a different openid in each).
 */
const APPS = [
  { kind: 'miniprogram' as const, name: 'Shop', audience: 'shop-api' },
  { kind: 'miniprogram' as const, name: 'Service', claims: ['unionid'] },
  { kind: 'mobile' as const, name: 'App', audience: ['app-api', 'wxauth'] },
  { kind: 'official_account' as const, name: 'Pages', redirect_uris: ['https://pages.example.com/cb'] },
];

const ADMIN_KEY = randomBytes(24).toString('base64url');

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

export function severalAppsSuite(label: string, options: { cluster?: () => string[] } = {}) {
  describe(`one deployment, several WeChat apps, one person (${label})`, () => {
    let h: Harness;
    let shop: string;
    let service: string;
    let mobile: string;
    let pages: string;

    beforeEach(async () => {
      const nodes = options.cluster?.();
      h = await startHarness({
        apps: APPS,
        ...(nodes
          ? {
              store: 'memory' as const,
              env: { REDIS_CLUSTER_NODES: nodes.join(','), REDIS_KEY_PREFIX: freshPrefix() },
            }
          : {}),
      });
      [shop, service, mobile, pages] = h.emulator.apps.map((app) => app.appid) as [
        string,
        string,
        string,
        string,
      ];
    });
    afterEach(() => h.close());

    /** The person's login through `appid` (its code from the emulator, as that app's client gets one). */
    async function loginThrough(appid: string, openid: string): Promise<LoginResult> {
      return h.login(openid, appid);
    }

    it('logs one person in through two mini-programs and an App: one openid each, one unionid, one list of sessions', async () => {
      const person = h.emulator.createUser({ unionid: true });
      const viaShop = await loginThrough(shop, person.openid);
      h.clock.advance(1000);
      const viaService = await loginThrough(service, person.openid);
      h.clock.advance(1000);
      const viaApp = await loginThrough(mobile, person.openid);

      expect(new Set([viaShop.openid, viaService.openid, viaApp.openid]).size).to.equal(3);
      expect(viaShop.openid).to.equal(person.openids[shop]);
      expect(viaApp.openid).to.equal(person.openids[mobile]);
      for (const tokens of [viaShop, viaService, viaApp]) expect(tokens.unionid).to.equal(person.unionid);
      expect([viaShop, viaService, viaApp].map((t) => t.is_new_user)).to.deep.equal([true, true, true]);

      const listed = await h.http.get('/auth/sessions').set(bearer(viaApp.access_token)).expect(200);
      expect(
        listed.body.sessions.map((s: { app: { name: string; kind: string }; current: boolean }) => [
          s.app.name,
          s.app.kind,
          s.current,
        ]),
      ).to.deep.equal([
        ['App', 'mobile', true],
        ['Service', 'miniprogram', false],
        ['Shop', 'miniprogram', false],
      ]);
      const fromShop = await h.http.get('/auth/sessions').set(bearer(viaShop.access_token)).expect(200);
      expect(fromShop.body.sessions).to.have.length(3);
    });

    it("gives each app's tokens its client_id and aud, the unionid claim only to the app that asks, and keeps the app on refresh", async () => {
      const person = h.emulator.createUser({ unionid: true });
      const viaShop = await loginThrough(shop, person.openid);
      const viaService = await loginThrough(service, person.openid);
      const viaApp = await loginThrough(mobile, person.openid);

      expect(decodeJwt(viaShop.access_token)).to.include({ client_id: shop, aud: 'shop-api' });
      expect(decodeJwt(viaShop.access_token)).not.to.have.property('unionid');
      expect(decodeJwt(viaService.access_token)).to.include({
        client_id: service,
        aud: 'wxauth',
        unionid: person.unionid,
      });
      expect(decodeJwt(viaApp.access_token).aud).to.deep.equal(['app-api', 'wxauth']);

      const me = await h.http.get('/auth/me').set(bearer(viaService.access_token)).expect(200);
      expect(me.body).to.include({ openid: viaService.openid, unionid: person.unionid });
      const plainMe = await h.http.get('/auth/me').set(bearer(viaShop.access_token)).expect(200);
      expect(plainMe.body).not.to.have.property('unionid');

      const verified = await h.http.get('/auth/verify').set(bearer(viaApp.access_token)).expect(200);
      expect(verified.headers['x-client-id']).to.equal(mobile);
      expect(verified.headers['x-openid']).to.equal(viaApp.openid);

      const refreshed = await h.http
        .post('/auth/refresh')
        .send({ refresh_token: viaShop.refresh_token })
        .expect(200);
      expect(decodeJwt(refreshed.body.access_token)).to.include({ client_id: shop, aud: 'shop-api' });
      const refreshedService = await h.http
        .post('/auth/refresh')
        .send({ refresh_token: viaService.refresh_token })
        .expect(200);
      expect(decodeJwt(refreshedService.body.access_token)).to.include({
        client_id: service,
        unionid: person.unionid,
      });
    });

    it('ends every session of the person, in every app, on one logout everywhere', async () => {
      const person = h.emulator.createUser({ unionid: true });
      const viaShop = await loginThrough(shop, person.openid);
      const viaService = await loginThrough(service, person.openid);
      const viaApp = await loginThrough(mobile, person.openid);
      const stranger = await loginThrough(shop, h.emulator.createUser({ unionid: true }).openid);

      await h.http.post('/auth/logout').set(bearer(viaService.access_token)).send({ all: true }).expect(204);
      for (const tokens of [viaShop, viaService, viaApp]) {
        await h.http.get('/auth/me').set(bearer(tokens.access_token)).expect(401);
        await h.http.post('/auth/refresh').send({ refresh_token: tokens.refresh_token }).expect(400);
      }
      await h.http.get('/auth/me').set(bearer(stranger.access_token)).expect(200);
    });

    it('ends a session of another app of the person from the list, and nothing of anyone else', async () => {
      const person = h.emulator.createUser({ unionid: true });
      const viaShop = await loginThrough(shop, person.openid);
      const viaApp = await loginThrough(mobile, person.openid);
      const stranger = await loginThrough(shop, h.emulator.createUser().openid);
      const appSid = decodeJwt(viaApp.access_token).sid as string;
      const strangerSid = decodeJwt(stranger.access_token).sid as string;

      await h.http.delete(`/auth/sessions/${strangerSid}`).set(bearer(viaShop.access_token)).expect(204);
      await h.http.get('/auth/me').set(bearer(stranger.access_token)).expect(200);
      await h.http.delete(`/auth/sessions/${appSid}`).set(bearer(viaShop.access_token)).expect(204);
      await h.http.get('/auth/me').set(bearer(viaApp.access_token)).expect(401);
      await h.http.get('/auth/me').set(bearer(viaShop.access_token)).expect(200);
    });

    it('deletes the person in every app on DELETE /auth/account: every identity starts afresh', async () => {
      const person = h.emulator.createUser({ unionid: true });
      const viaShop = await loginThrough(shop, person.openid);
      const viaApp = await loginThrough(mobile, person.openid);

      await h.http.delete('/auth/account').set(bearer(viaApp.access_token)).expect(204);
      await h.http.get('/auth/me').set(bearer(viaShop.access_token)).expect(401);
      expect(await h.store.getAccount(viaShop.openid)).to.equal(null);
      expect(await h.store.getAccount(viaApp.openid)).to.equal(null);
      expect(await h.store.personIdentities(person.unionid!)).to.deep.equal([]);
      expect((await loginThrough(shop, person.openid)).is_new_user).to.equal(true);
      expect((await loginThrough(mobile, person.openid)).is_new_user).to.equal(true);
    });

    it('keeps people without a unionid apart: each identity is a person of its own', async () => {
      const person = h.emulator.createUser();
      const viaShop = await loginThrough(shop, person.openid);
      const viaService = await loginThrough(service, person.openid);
      expect(viaShop).not.to.have.property('unionid');
      const listed = await h.http.get('/auth/sessions').set(bearer(viaShop.access_token)).expect(200);
      expect(listed.body.sessions).to.have.length(1);
      await h.http.post('/auth/logout').set(bearer(viaShop.access_token)).send({ all: true }).expect(204);
      await h.http.get('/auth/me').set(bearer(viaService.access_token)).expect(200);
    });

    it('refuses an unknown appid, a browser app, a missing appid, another app’s code and an App’s code as a mini-program’s, changing nothing', async () => {
      const person = h.emulator.createUser({ unionid: true });
      const unknown = await h.http
        .post('/auth/login')
        .send({ code: h.emulator.login(person.openid).code, appid: 'wx00000000000000ff' })
        .expect(400);
      expect(unknown.body.error).to.equal('invalid_request');
      expect(unknown.body.error_description).to.contain('wx00000000000000ff');

      const browser = await h.http
        .post('/auth/login')
        .send({ code: h.emulator.login(person.openid, { appid: pages }).code, appid: pages })
        .expect(400);
      expect(browser.body).to.include({ error: 'invalid_request' });
      expect(browser.body.error_description).to.match(/official_account.*\/oauth\/authorize/);

      const missing = await h.http
        .post('/auth/login')
        .send({ code: h.emulator.login(person.openid).code })
        .expect(400);
      expect(missing.body.error_description).to.match(/appid is required/);

      const shopCode = h.emulator.login(person.openid, { appid: shop }).code;
      const crossed = await h.http.post('/auth/login').send({ code: shopCode, appid: service }).expect(400);
      expect(crossed.body.error).to.equal('invalid_grant');

      const appCode = h.emulator.login(person.openid, { appid: mobile }).code;
      const asMiniprogram = await h.http.post('/auth/login').send({ code: appCode, appid: shop }).expect(400);
      expect(asMiniprogram.body.error).to.equal('invalid_grant');

      for (const appid of [shop, service, mobile]) {
        expect(await h.store.getAccount(person.openids[appid]!)).to.equal(null);
      }
      expect(await h.store.personIdentities(person.unionid!)).to.deep.equal([]);
      // The codes the refusals carried were never spent where they belong.
      await h.http.post('/auth/login').send({ code: shopCode, appid: shop }).expect(200);
      await h.http.post('/auth/login').send({ code: appCode, appid: mobile }).expect(200);
    });

    it("refuses the open-data routes to an App's session, and open data of another app to a mini-program's", async () => {
      const person = h.emulator.createUser({ unionid: true });
      const viaShop = await loginThrough(shop, person.openid);
      const viaApp = await loginThrough(mobile, person.openid);
      const sealed = h.emulator.encrypt(person.openids[shop]!, 'raw', { step: 1 }, { appid: shop });

      const refused = await h.http
        .post('/wechat/decrypt')
        .set(bearer(viaApp.access_token))
        .send(sealed)
        .expect(400);
      expect(refused.body.error).to.equal('invalid_request');
      expect(refused.body.error_description).to.match(/not a mini-program session/i);
      await h.http.get('/wechat/session').set(bearer(viaApp.access_token)).expect(400);

      const opened = await h.http
        .post('/wechat/decrypt')
        .set(bearer(viaShop.access_token))
        .send(sealed)
        .expect(200);
      expect(opened.body).to.deep.equal({ step: 1 });

      // Sealed with the Service identity's own session_key, but issued to the Shop mini-program (its
      // watermark): the data of another app of the same person is not this session's to open.
      const viaService = await loginThrough(service, person.openid);
      const foreign = h.emulator.encrypt(
        person.openids[service]!,
        'raw',
        { step: 2, watermark: { appid: shop, timestamp: Math.floor(h.clock.now() / 1000) } },
        { appid: service },
      );
      const other = await h.http.post('/wechat/decrypt').set(bearer(viaService.access_token)).send(foreign);
      expect(other.status).to.equal(400);
      expect(other.body.error).to.equal('invalid_open_data');
      const own = h.emulator.encrypt(person.openids[service]!, 'raw', { step: 3 }, { appid: service });
      await h.http.post('/wechat/decrypt').set(bearer(viaService.access_token)).send(own).expect(200);
    });

    it('keeps one app’s WeChat outage from slowing another app’s logins', async () => {
      const person = h.emulator.createUser({ unionid: true });
      h.emulator.setFault({ api: 'jscode2session', mode: 'slow', delayMs: 3000, appid: shop, times: 1 });
      const slow = h.http
        .post('/auth/login')
        .send({ code: h.emulator.login(person.openid, { appid: shop }).code, appid: shop });
      const slowDone = slow.then((res) => res.status);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const started = performance.now();
      await loginThrough(service, person.openid);
      const viaApp = await loginThrough(mobile, person.openid);
      expect(performance.now() - started).to.be.below(1000);
      expect(viaApp.openid).to.equal(person.openids[mobile]);
      expect(await slowDone).to.be.oneOf([200, 504]);
    });

    it('answers the person by any openid or the unionid on the admin side, and a ban reaches identities that join later', async () => {
      const person = h.emulator.createUser({ unionid: true });
      const viaShop = await loginThrough(shop, person.openid);
      const viaService = await loginThrough(service, person.openid);
      const admin = supertest(
        createAdminApp(
          { ...h.config, admin: { keys: [{ key: ADMIN_KEY, readOnly: false }], port: 0, host: '127.0.0.1' } },
          {
            ...h,
            logger: createLogger({ level: 'silent' }),
          },
        ).callback(),
      );
      const ops = { Authorization: `Bearer ${ADMIN_KEY}` };
      const byUnionid = (await admin.get(`/admin/users/${person.unionid}`).set(ops).expect(200)).body;
      expect(byUnionid.unionid).to.equal(person.unionid);
      expect(byUnionid.identities.map((i: { appid: string }) => i.appid).sort()).to.deep.equal(
        [shop, service].sort(),
      );
      expect(byUnionid.sessions).to.have.length(2);
      const byOpenid = (await admin.get(`/admin/users/${viaService.openid}`).set(ops).expect(200)).body;
      expect(byOpenid.openid).to.equal(viaService.openid);
      expect(byOpenid.identities).to.have.length(2);

      await admin.put(`/admin/users/${viaShop.openid}/ban`).set(ops).send({ reason: 'fraud' }).expect(204);
      await h.http.get('/auth/me').set(bearer(viaService.access_token)).expect(401);
      const again = await h.http
        .post('/auth/login')
        .send({ code: h.emulator.login(person.openid, { appid: service }).code, appid: service })
        .expect(403);
      expect(again.body.error).to.equal('access_denied');
      // A new identity of the banned person: the App, which never logged in before.
      const joining = await h.http
        .post('/auth/login')
        .send({ code: h.emulator.login(person.openid, { appid: mobile }).code, appid: mobile })
        .expect(403);
      expect(joining.body.error).to.equal('access_denied');
      expect(await h.store.listSessions(person.openids[mobile]!, h.clock.now())).to.deep.equal([]);

      await admin.delete(`/admin/users/${person.unionid}/ban`).set(ops).expect(204);
      await loginThrough(mobile, person.openid);
      await loginThrough(shop, person.openid);
    });

    it("lifts a deleted person's ban from the openid it was deleted by, and finds that person by unionid meanwhile", async () => {
      const person = h.emulator.createUser({ unionid: true });
      const viaShop = await loginThrough(shop, person.openid);
      await loginThrough(service, person.openid);
      const admin = supertest(
        createAdminApp(
          { ...h.config, admin: { keys: [{ key: ADMIN_KEY, readOnly: false }], port: 0, host: '127.0.0.1' } },
          { ...h, logger: createLogger({ level: 'silent' }) },
        ).callback(),
      );
      const ops = { Authorization: `Bearer ${ADMIN_KEY}` };
      await admin.put(`/admin/users/${viaShop.openid}/ban`).set(ops).send({ reason: 'fraud' }).expect(204);
      await admin.delete(`/admin/users/${viaShop.openid}`).set(ops).expect(204);

      const found = (await admin.get(`/admin/users/${person.unionid}`).set(ops).expect(200)).body;
      expect(found.banned).to.deep.equal({ reason: 'fraud', until: null });
      expect(found.sessions).to.deep.equal([]);
      const viaMobile = { code: h.emulator.login(person.openid, { appid: mobile }).code, appid: mobile };
      await h.http.post('/auth/login').send(viaMobile).expect(403);

      await admin.delete(`/admin/users/${viaShop.openid}/ban`).set(ops).expect(204);
      expect((await loginThrough(shop, person.openid)).is_new_user).to.equal(true);
      await loginThrough(service, person.openid);
      await loginThrough(mobile, person.openid);
    });
  });
}
