import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createEmulator, type Emulator } from '../../src/emulator/index.js';
import { AppError } from '../../src/errors/index.js';
import { createLogger, ManualClock } from '../../src/lib/index.js';
import { MemoryStore } from '../../src/store/index.js';
import { createWechatClient, type WechatClient } from '../../src/wechat/index.js';
import { readQrCode } from '../helpers/qr.js';

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(AppError);
    return error as AppError;
  }
  throw new Error('expected a rejection');
}

const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
const JPEG = Buffer.from('ffd8ffe000104a46494600010100000100010000', 'hex');

describe('WeChat client: wxacode.getUnlimited', () => {
  let clock: ManualClock;
  let emulator: Emulator;
  let store: MemoryStore;
  let logs: string[];

  beforeEach(async () => {
    clock = new ManualClock(Date.UTC(2024, 0, 1));
    emulator = createEmulator({ clock });
    await emulator.listen(0);
    store = new MemoryStore({ clock });
    logs = [];
  });
  afterEach(async () => {
    await store.close();
    await emulator.close();
  });

  function instance(apiBase = emulator.url, timeoutMs = 2000): WechatClient {
    return createWechatClient({
      apiBase,
      appid: emulator.appid,
      secret: emulator.secret,
      timeoutMs,
      logger: createLogger({ level: 'info', destination: { write: (line: string) => void logs.push(line) } }),
      clock,
      store,
    });
  }

  const logEvents = () => logs.map((line) => JSON.parse(line).event).filter(Boolean);
  const code = {
    scene: 'Ab3_-xY9zQ0123456789ab',
    page: 'pages/qr-login/index',
    envVersion: 'release',
  } as const;

  it('fetches the picture with the shared access_token: a PNG that a camera reads as the page and scene', async () => {
    const wechat = instance();
    const picture = await wechat.getUnlimitedWxacode(code);
    expect(picture.type).to.equal('image/png');
    expect(readQrCode(picture.bytes)).to.equal(`pages/qr-login/index?scene=${code.scene}`);
    await wechat.getUnlimitedWxacode(code);
    expect(emulator.calls('stable_token')).to.equal(1);
    expect(emulator.calls('getwxacodeunlimit')).to.equal(2);
    expect(emulator.wxacodes()[0]).to.include({ scene: code.scene, env_version: 'release' });
  });

  it('checks the page against the published mini-program for release, and not for trial or develop', async () => {
    const wechat = instance();
    const unpublished = { ...code, page: 'pages/new/login' };
    expect(await rejection(wechat.getUnlimitedWxacode(unpublished))).to.include({ status: 502 });
    for (const envVersion of ['trial', 'develop'] as const) {
      const picture = await wechat.getUnlimitedWxacode({ ...unpublished, envVersion });
      expect(readQrCode(picture.bytes)).to.equal(`pages/new/login?scene=${code.scene}`);
      expect(emulator.wxacodes()[0]!.env_version).to.equal(envVersion);
    }
  });

  it('renews an access_token WeChat rejects (40001) and draws on the one retry', async () => {
    const wechat = instance();
    await wechat.getUnlimitedWxacode(code);
    emulator.invalidateAccessTokens();
    const picture = await wechat.getUnlimitedWxacode(code);
    expect(picture.type).to.equal('image/png');
    expect(emulator.calls('stable_token')).to.equal(2);
    expect(emulator.calls('getwxacodeunlimit')).to.equal(3);
    expect(logEvents()).to.include('access_token_rejected');
  });

  it("answers 429 rate_limited with a minute's Retry-After when WeChat's quota of codes is spent (45009)", async () => {
    emulator.setFault({ api: 'getwxacodeunlimit', mode: 'errcode', errcode: 45009 });
    const error = await rejection(instance().getUnlimitedWxacode(code));
    expect(error).to.include({ status: 429, error: 'rate_limited', wechatErrcode: 45009, retryAfter: 60 });
  });

  it('answers 502 and logs a configuration fault naming QR_LOGIN_PAGE when WeChat refuses the page (41030)', async () => {
    const error = await rejection(instance().getUnlimitedWxacode({ ...code, page: 'pages/nowhere/index' }));
    expect(error).to.include({ status: 502, error: 'upstream_unavailable', wechatErrcode: 41030 });
    const fault = logs.map((line) => JSON.parse(line)).find((line) => line.event === 'wechat_config_fault');
    expect(fault).to.include({ level: 50, api: 'getwxacodeunlimit', errcode: 41030 });
    expect(fault.msg).to.contain('QR_LOGIN_PAGE');
  });

  it('answers 502 with the errcode when WeChat refuses the scene (40169)', async () => {
    emulator.setFault({ api: 'getwxacodeunlimit', mode: 'errcode', errcode: 40169 });
    const error = await rejection(instance().getUnlimitedWxacode(code));
    expect(error).to.include({ status: 502, error: 'upstream_unavailable', wechatErrcode: 40169 });
  });

  const failures: Array<[string, Parameters<Emulator['setFault']>[0], number]> = [
    ['WeChat is busy (-1)', { api: 'getwxacodeunlimit', mode: 'busy' }, 502],
    ['WeChat answers a body cut short', { api: 'getwxacodeunlimit', mode: 'garbage' }, 502],
    ['WeChat answers HTTP 500', { api: 'getwxacodeunlimit', mode: 'http500' }, 502],
    ['WeChat does not answer in time', { api: 'getwxacodeunlimit', mode: 'slow', delayMs: 1000 }, 504],
  ];
  for (const [name, fault, status] of failures) {
    it(`answers ${status} upstream_unavailable when ${name}`, async () => {
      const wechat = instance(emulator.url, 300);
      emulator.setFault(fault);
      expect(await rejection(wechat.getUnlimitedWxacode(code))).to.include({
        status,
        error: 'upstream_unavailable',
      });
      emulator.assertNoPendingFaults();
    });
  }

  describe('against a server labelling bodies as WeChat does (or not)', () => {
    let fake: Server;
    let answer: { type: string; body: Buffer };

    beforeEach(async () => {
      fake = createServer((req, res) => {
        const path = new URL(req.url ?? '/', 'http://fake').pathname;
        req.resume();
        req.on('end', () => {
          if (path === '/cgi-bin/stable_token') {
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ access_token: 'T', expires_in: 7200 }));
            return;
          }
          res.writeHead(200, { 'content-type': answer.type });
          res.end(answer.body);
        });
      });
      fake.listen(0, '127.0.0.1');
      await once(fake, 'listening');
    });
    afterEach(async () => {
      fake.closeAllConnections();
      await new Promise((resolve) => fake.close(resolve));
    });

    const url = () => `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;

    it('tells an errcode body labelled image/jpeg from a picture by its content', async () => {
      answer = { type: 'image/jpeg', body: Buffer.from('{"errcode":45009,"errmsg":"quota, rid: 1-2-3"}') };
      expect(await rejection(instance(url()).getUnlimitedWxacode(code))).to.include({ wechatErrcode: 45009 });
    });

    it('takes a PNG labelled application/json, and a JPEG, each as what its bytes say', async () => {
      answer = { type: 'application/json', body: PNG };
      expect(await instance(url()).getUnlimitedWxacode(code)).to.deep.equal({
        type: 'image/png',
        bytes: PNG,
      });
      answer = { type: 'image/jpeg', body: JPEG };
      expect(await instance(url()).getUnlimitedWxacode(code)).to.deep.equal({
        type: 'image/jpeg',
        bytes: JPEG,
      });
    });

    it('answers 502 for bytes that are neither a PNG nor a JPEG, or JSON without an errcode', async () => {
      for (const body of [Buffer.from('GIF89a-not-ours'), Buffer.from('{"errcode":0,"errmsg":"ok"}')]) {
        answer = { type: 'image/jpeg', body };
        expect(await rejection(instance(url()).getUnlimitedWxacode(code))).to.include({
          status: 502,
          error: 'upstream_unavailable',
        });
      }
    });
  });
});
