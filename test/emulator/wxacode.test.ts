import { expect } from 'chai';
import { createEmulator, type Emulator } from '../../src/emulator/index.js';
import { ManualClock } from '../../src/lib/index.js';
import { readQrCode } from '../helpers/qr.js';

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const RID = /, rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$/;

interface Picture {
  status: number;
  contentType: string | null;
  bytes: Buffer;
  /** The parsed body when it is JSON, else undefined. */
  json: Record<string, unknown> | undefined;
}

describe('WeChat API emulator: wxacode.getUnlimited (POST /wxa/getwxacodeunlimit)', () => {
  let clock: ManualClock;
  let emulator: Emulator;

  beforeEach(async () => {
    clock = new ManualClock(Date.UTC(2024, 0, 1));
    emulator = createEmulator({ clock });
    await emulator.listen(0);
  });
  afterEach(async () => {
    await emulator.close();
  });

  async function accessToken(): Promise<string> {
    const res = await fetch(`${emulator.url}/cgi-bin/stable_token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        grant_type: 'client_credential',
        appid: emulator.appid,
        secret: emulator.secret,
      }),
    });
    return ((await res.json()) as { access_token: string }).access_token;
  }

  async function draw(body: unknown, token?: string): Promise<Picture> {
    const query = new URLSearchParams({ access_token: token ?? (await accessToken()) });
    const res = await fetch(`${emulator.url}/wxa/getwxacodeunlimit?${query}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const bytes = Buffer.from(await res.arrayBuffer());
    let json: Record<string, unknown> | undefined;
    try {
      json = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    } catch {
      json = undefined;
    }
    return { status: res.status, contentType: res.headers.get('content-type'), bytes, json };
  }

  function expectErrcode(answer: Picture, errcode: number): void {
    expect(answer.status).to.equal(200);
    // WeChat labels its errcode bodies like its pictures: only the body tells them apart.
    expect(answer.contentType).to.equal('image/jpeg');
    expect(answer.json?.errcode, answer.bytes.toString()).to.equal(errcode);
    expect(answer.json?.errmsg).to.match(RID);
  }

  it('draws a real QR code (PNG) that a camera reads as the page and its scene, labelled image/jpeg as WeChat does', async () => {
    const scene = 'Ab3_-xY9zQ0123456789ab';
    const answer = await draw({
      scene,
      page: 'pages/qr-login/index',
      check_path: true,
      env_version: 'release',
    });
    expect(answer.status).to.equal(200);
    expect(answer.contentType).to.equal('image/jpeg');
    expect(answer.bytes.subarray(0, 8).equals(PNG_MAGIC)).to.equal(true);
    expect(readQrCode(answer.bytes)).to.equal(`pages/qr-login/index?scene=${scene}`);
  });

  it("encodes the scene as the page's options.scene arrives (URI-encoded), and opens the home page without a page", async () => {
    const scene = "a=1&b=(x)*!$'~:;@/,";
    const answer = await draw({ scene });
    expect(readQrCode(answer.bytes)).to.equal(`pages/index/index?scene=${encodeURIComponent(scene)}`);
  });

  it('draws the width asked for, within 280 to 1280 pixels', async () => {
    const { PNG } = await import('pngjs');
    const small = PNG.sync.read((await draw({ scene: 'x', width: 100 })).bytes);
    const large = PNG.sync.read((await draw({ scene: 'x', width: 5000 })).bytes);
    expect(small.width).to.equal(280);
    expect(large.width).to.equal(1280);
  });

  const badScenes: Array<[string, unknown]> = [
    ['no scene', undefined],
    ['an empty scene', ''],
    ['a scene of 33 characters', 'a'.repeat(33)],
    ['a scene with a space', 'a b'],
    ['a scene with %', 'a%20b'],
    ['a scene with Chinese characters', '登录'],
    ['a scene that is not a string', 12345],
  ];
  for (const [name, scene] of badScenes) {
    it(`answers 40169 as JSON for ${name}`, async () => {
      expectErrcode(await draw({ scene, page: 'pages/index/index' }), 40169);
    });
  }

  it('accepts a scene of exactly 32 characters', async () => {
    const scene = 'A'.repeat(32);
    expect(readQrCode((await draw({ scene })).bytes)).to.equal(`pages/index/index?scene=${scene}`);
  });

  it('answers 41030 for a page the published mini-program lacks, unless check_path is false', async () => {
    expectErrcode(await draw({ scene: 'x', page: 'pages/nowhere/index' }), 41030);
    expectErrcode(await draw({ scene: 'x', page: 'pages/nowhere/index', check_path: true }), 41030);
    const unchecked = await draw({ scene: 'x', page: 'pages/nowhere/index', check_path: false });
    expect(readQrCode(unchecked.bytes)).to.equal('pages/nowhere/index?scene=x');
  });

  it('answers 41030 for a page written with a leading slash or a query, checked or not', async () => {
    for (const page of ['/pages/index/index', 'pages/index/index?x=1']) {
      expectErrcode(await draw({ scene: 'x', page, check_path: false }), 41030);
    }
  });

  it('knows the pages it is told the mini-program has', async () => {
    const own = createEmulator({ clock, pages: ['pages/login/scan'] });
    await own.listen(0);
    try {
      const token = (await (
        await fetch(`${own.url}/cgi-bin/stable_token`, {
          method: 'POST',
          body: JSON.stringify({ grant_type: 'client_credential', appid: own.appid, secret: own.secret }),
        })
      ).json()) as { access_token: string };
      const res = await fetch(`${own.url}/wxa/getwxacodeunlimit?access_token=${token.access_token}`, {
        method: 'POST',
        body: JSON.stringify({ scene: 'x', page: 'pages/login/scan' }),
      });
      expect(readQrCode(Buffer.from(await res.arrayBuffer()))).to.equal('pages/login/scan?scene=x');
    } finally {
      await own.close();
    }
  });

  it('answers 40097 for an env_version other than release, trial and develop', async () => {
    expectErrcode(await draw({ scene: 'x', env_version: 'beta' }), 40097);
    for (const env_version of ['release', 'trial', 'develop']) {
      expect((await draw({ scene: 'x', env_version })).bytes.subarray(0, 8).equals(PNG_MAGIC)).to.equal(true);
    }
  });

  it('answers 47001 for a body that is not JSON', async () => {
    expectErrcode(await draw('{"scene":'), 47001);
  });

  it('answers 40014 for an unknown access_token and 40001 for an invalidated one', async () => {
    expectErrcode(await draw({ scene: 'x' }, 'not-a-token'), 40014);
    const token = await accessToken();
    emulator.invalidateAccessTokens();
    expectErrcode(await draw({ scene: 'x' }, token), 40001);
  });

  it('answers 43002 as JSON for a GET', async () => {
    const res = await fetch(`${emulator.url}/wxa/getwxacodeunlimit?access_token=${await accessToken()}`);
    expect(res.headers.get('content-type')).to.equal('image/jpeg');
    expect(((await res.json()) as { errcode: number }).errcode).to.equal(43002);
  });

  it('counts its calls as getwxacodeunlimit and takes faults armed for it', async () => {
    const token = await accessToken();
    emulator.setFault({ api: 'getwxacodeunlimit', mode: 'errcode', errcode: 45009 });
    expectErrcode(await draw({ scene: 'x' }, token), 45009);
    emulator.setFault({ api: 'getwxacodeunlimit', mode: 'busy' });
    expectErrcode(await draw({ scene: 'x' }, token), -1);
    emulator.assertNoPendingFaults();
    expect(emulator.calls('getwxacodeunlimit')).to.equal(2);
    const counts = (await (await fetch(`${emulator.url}/__emulator/calls`)).json()) as Record<string, number>;
    expect(counts.getwxacodeunlimit).to.equal(2);
  });

  describe('the phone scanning a code it drew', () => {
    it('lists the codes drawn, newest first, with their page and scene (wxacodes())', async () => {
      await draw({ scene: 'first', page: 'pages/qr-login/index' });
      clock.advance(1000);
      await draw({ scene: 'second', page: 'pages/qr-login/index', env_version: 'develop' });
      await draw({ scene: 'x'.repeat(40) });
      expect(emulator.wxacodes()).to.deep.equal([
        { scene: 'second', page: 'pages/qr-login/index', env_version: 'develop', drawn_at: clock.now() },
        {
          scene: 'first',
          page: 'pages/qr-login/index',
          env_version: 'release',
          drawn_at: clock.now() - 1000,
        },
      ]);
    });

    it('serves the same list at GET /__emulator/wxacodes, and forgets it on reset()', async () => {
      await draw({ scene: 'abc' });
      const res = await fetch(`${emulator.url}/__emulator/wxacodes`);
      expect(res.status).to.equal(200);
      expect(await res.json()).to.deep.equal({
        wxacodes: [
          { scene: 'abc', page: 'pages/index/index', env_version: 'release', drawn_at: clock.now() },
        ],
      });
      emulator.reset();
      expect(emulator.wxacodes()).to.deep.equal([]);
    });

    it('keeps only the latest 50 codes', async () => {
      const token = await accessToken();
      for (let i = 0; i < 55; i += 1) await draw({ scene: `s${i}` }, token);
      const codes = emulator.wxacodes();
      expect(codes).to.have.length(50);
      expect(codes[0]!.scene).to.equal('s54');
      expect(codes[49]!.scene).to.equal('s5');
    });
  });
});
