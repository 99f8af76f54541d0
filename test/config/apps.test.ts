import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { loadConfig } from '../../src/config/index.js';
import { PRODUCTION_WITHOUT_URL, refusal } from '../helpers/config.js';

const MINI = 'wx1234567890abcdef';
const MINI_2 = 'wx2234567890abcdef';
const WEB = 'wx5234567890abcdef';
const SECRET = 'abcdef0123456789abcdef0123456789';
const OTHER_SECRET = 'fedcba9876543210fedcba9876543210';
/** What production requires beside the WeChat apps. */
const PRODUCTION_REST = {
  NODE_ENV: 'production',
  JWT_SIGNING_KEYS_FILE: PRODUCTION_WITHOUT_URL.JWT_SIGNING_KEYS_FILE,
  SESSION_KEY_ENCRYPTION_KEYS: PRODUCTION_WITHOUT_URL.SESSION_KEY_ENCRYPTION_KEYS,
  REDIS_URL: PRODUCTION_WITHOUT_URL.REDIS_URL,
  PUBLIC_URL: 'https://auth.example.com',
};

describe('configuration: several WeChat apps (WECHAT_APPS_FILE)', () => {
  let dir: string;
  let files = 0;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'wxauth-apps-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Writes `content` (JSON unless a string) to a file of its own and returns its path. */
  const file = (content: unknown): string => {
    files += 1;
    const path = join(dir, `apps-${files}.json`);
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  };
  const appsOf = (apps: unknown[], env: Record<string, string> = {}) =>
    loadConfig({ WECHAT_APPS_FILE: file({ apps }), ...env }).wechat;
  const remote = (apps: unknown[], env: Record<string, string> = {}) => {
    const wechat = appsOf(apps, env);
    if (wechat.mode !== 'remote') throw new Error('expected remote mode');
    return wechat;
  };
  /** The one-line refusal of an apps file listing `apps`. */
  const refused = (apps: unknown[], env: Record<string, string> = {}) => {
    const message = refusal({ WECHAT_APPS_FILE: file({ apps }), ...env });
    expect(message).not.to.contain('\n');
    return message;
  };
  const mini = (more: Record<string, unknown> = {}) => ({
    appid: MINI,
    kind: 'miniprogram',
    secret: SECRET,
    ...more,
  });
  const web = (more: Record<string, unknown> = {}) => ({
    appid: WEB,
    kind: 'website',
    secret: SECRET,
    redirect_uris: ['https://shop.example.com/auth/callback'],
    ...more,
  });

  describe('WECHAT_APPID/WECHAT_SECRET', () => {
    it('still mean one miniprogram app, named by its appid, for JWT_AUDIENCE, shown by web login', () => {
      const { wechat } = loadConfig({ WECHAT_APPID: MINI, WECHAT_SECRET: SECRET, JWT_AUDIENCE: 'shop' });
      expect(wechat).to.deep.include({
        mode: 'remote',
        apiBase: 'https://api.weixin.qq.com',
        qrLoginAppid: MINI,
        apps: [
          {
            appid: MINI,
            kind: 'miniprogram',
            secret: SECRET,
            name: MINI,
            audience: ['shop'],
            claims: [],
            redirectUris: [],
          },
        ],
      });
    });

    it('keep taking an appid of any shape they took before', () => {
      const { wechat } = loadConfig({ WECHAT_APPID: 'test-app', WECHAT_SECRET: 'abc123' });
      expect(wechat.mode === 'remote' && wechat.apps[0]?.appid).to.equal('test-app');
    });

    it('are refused beside WECHAT_APPS_FILE, naming both', () => {
      const path = file({ apps: [mini()] });
      const message = refusal({ WECHAT_APPID: MINI, WECHAT_SECRET: SECRET, WECHAT_APPS_FILE: path });
      expect(message).to.match(/^WECHAT_APPID and WECHAT_SECRET and WECHAT_APPS_FILE are exclusive/);
      expect(message).not.to.contain(SECRET);
      expect(refusal({ WECHAT_SECRET: SECRET, WECHAT_APPS_FILE: path })).to.match(
        /^WECHAT_SECRET and WECHAT_APPS_FILE are exclusive/,
      );
      expect(refusal({ WECHAT_APPID: MINI, WECHAT_APPS_FILE: path })).to.match(
        /^WECHAT_APPID and WECHAT_APPS_FILE are exclusive/,
      );
    });
  });

  describe('reading the file', () => {
    it('takes each app as given, with the defaults of what it leaves out', () => {
      const wechat = remote(
        [
          mini(),
          {
            appid: 'wx3234567890abcdef',
            kind: 'mobile',
            secret: OTHER_SECRET,
            name: '商城 App',
            audience: ['shop-api', 'wxauth'],
            claims: ['unionid'],
          },
          web({ audience: 'shop-web' }),
        ],
        { JWT_AUDIENCE: 'shop' },
      );
      expect(wechat.apps).to.deep.equal([
        {
          appid: MINI,
          kind: 'miniprogram',
          secret: SECRET,
          name: MINI,
          audience: ['shop'],
          claims: [],
          redirectUris: [],
        },
        {
          appid: 'wx3234567890abcdef',
          kind: 'mobile',
          secret: OTHER_SECRET,
          name: '商城 App',
          audience: ['shop-api', 'wxauth'],
          claims: ['unionid'],
          redirectUris: [],
        },
        {
          appid: WEB,
          kind: 'website',
          secret: SECRET,
          name: WEB,
          audience: ['shop-web'],
          claims: [],
          redirectUris: ['https://shop.example.com/auth/callback'],
        },
      ]);
      expect(Object.isFrozen(wechat.apps)).to.equal(true);
      expect(Object.isFrozen(wechat.apps[2]?.redirectUris)).to.equal(true);
    });

    it('takes a secret left out of the file from WECHAT_SECRET_<APPID>, the appid in upper case', () => {
      const wechat = remote([{ appid: MINI, kind: 'miniprogram' }, web({ secret: undefined })], {
        WECHAT_SECRET_WX1234567890ABCDEF: SECRET,
        WECHAT_SECRET_WX5234567890ABCDEF: ` ${OTHER_SECRET} `,
      });
      expect(wechat.apps.map((app) => app.secret)).to.deep.equal([SECRET, OTHER_SECRET]);
    });

    it('prefers the secret written in the file to WECHAT_SECRET_<APPID>', () => {
      const wechat = remote([mini()], { WECHAT_SECRET_WX1234567890ABCDEF: OTHER_SECRET });
      expect(wechat.apps[0]?.secret).to.equal(SECRET);
    });

    it('stops start-up on a missing secret, naming WECHAT_SECRET_<APPID>', () => {
      expect(refused([{ appid: MINI, kind: 'miniprogram' }])).to.equal(
        `WECHAT_APPS_FILE: apps[0] (${MINI}): secret is missing: set WECHAT_SECRET_WX1234567890ABCDEF or give secret in the file`,
      );
      // A lower-case name is not the setting: environments differ on case, the documented one is upper.
      expect(
        refused([{ appid: MINI, kind: 'miniprogram' }], { [`WECHAT_SECRET_${MINI}`]: SECRET }),
      ).to.contain('WECHAT_SECRET_WX1234567890ABCDEF');
    });

    it('refuses a secret of the wrong shape without printing it', () => {
      const inline = refused([mini({ secret: 'not a secret!' })]);
      expect(inline).to.equal(
        `WECHAT_APPS_FILE: apps[0] (${MINI}): secret must be the AppSecret (1 to 128 letters and digits)`,
      );
      const fromEnv = refused([{ appid: MINI, kind: 'miniprogram' }], {
        WECHAT_SECRET_WX1234567890ABCDEF: 'leaked-secret-value',
      });
      expect(fromEnv).to.contain('WECHAT_SECRET_WX1234567890ABCDEF must be the AppSecret');
      expect(fromEnv).not.to.contain('leaked-secret-value');
    });

    it('never quotes the text around a JSON mistake, which may be a secret left unquoted', () => {
      const message = refusal({ WECHAT_APPS_FILE: file(`{"apps": [{"secret": ${SECRET}}]}`) });
      expect(message).to.equal('WECHAT_APPS_FILE: not JSON');
    });

    it('quotes an unknown key only when it looks like a field name, not a pasted value', () => {
      expect(refused([mini({ [SECRET]: true })])).to.equal(
        `WECHAT_APPS_FILE: apps[0] (${MINI}): unknown field (a key that is no field name)`,
      );
    });

    it('never quotes a value but a well-formed appid, so a secret in the wrong field stays unprinted', () => {
      const message = refused([
        { appid: SECRET, kind: SECRET, secret: SECRET, name: `${SECRET}\n`, typo: SECRET },
      ]);
      expect(message).not.to.contain(SECRET);
      expect(message).to.contain(
        'apps[0] (no valid appid): appid must be wx followed by 16 letters or digits',
      );
    });

    it('stops start-up with one line naming WECHAT_APPS_FILE when the file is missing or not JSON', () => {
      expect(refusal({ WECHAT_APPS_FILE: join(dir, 'none.json') })).to.equal(
        `WECHAT_APPS_FILE: cannot read ${join(dir, 'none.json')} (no such file)`,
      );
      expect(refusal({ WECHAT_APPS_FILE: dir })).to.match(/^WECHAT_APPS_FILE: cannot read .* \(EISDIR\)$/);
      expect(refusal({ WECHAT_APPS_FILE: file('{"apps": [') })).to.equal(
        'WECHAT_APPS_FILE: not JSON (it ends too early)',
      );
      expect(refusal({ WECHAT_APPS_FILE: file('{"apps": [\n  {"appid" "wx"}]}') })).to.equal(
        'WECHAT_APPS_FILE: not JSON (a mistake at line 2, column 12)',
      );
      for (const content of [[], { app: [] }, { apps: {} }, 'null']) {
        expect(refusal({ WECHAT_APPS_FILE: file(content) })).to.equal(
          'WECHAT_APPS_FILE: expected {"apps": [ … ]}',
        );
      }
    });

    it('refuses an empty list of apps and any field beside apps', () => {
      expect(refused([])).to.equal('WECHAT_APPS_FILE: apps is empty: list at least one app');
      expect(refusal({ WECHAT_APPS_FILE: file({ apps: [mini()], default: MINI }) })).to.equal(
        'WECHAT_APPS_FILE: unknown field "default"',
      );
    });

    it('names every mistake of the file in one line, each naming the app and the field', () => {
      const message = refused([
        mini({ kind: 'game' }),
        web({ redirect_uris: ['https://shop.example.com/cb#top'] }),
        mini({ appid: MINI_2, secret: undefined }),
      ]);
      expect(message.split('; ')).to.deep.equal([
        `WECHAT_APPS_FILE: apps[0] (${MINI}): kind must be one of miniprogram, mobile, official_account, website`,
        `WECHAT_APPS_FILE: apps[1] (${WEB}): redirect_uris[0] must be an absolute https URL without a fragment (http only for localhost or 127.0.0.1)`,
        `WECHAT_APPS_FILE: apps[2] (${MINI_2}): secret is missing: set WECHAT_SECRET_WX2234567890ABCDEF or give secret in the file`,
      ]);
    });
  });

  describe('the rules of an app', () => {
    it('takes the four kinds and refuses any other, or none', () => {
      const wechat = remote([
        mini(),
        mini({ appid: MINI_2, kind: 'mobile' }),
        web({ appid: 'wx4234567890abcdef', kind: 'official_account' }),
        web(),
      ]);
      expect(wechat.apps.map((app) => app.kind)).to.deep.equal([
        'miniprogram',
        'mobile',
        'official_account',
        'website',
      ]);
      expect(refused([mini({ kind: 'MiniProgram' })])).to.contain(`apps[0] (${MINI}): kind must be one of`);
      expect(refused([mini({ kind: undefined })])).to.contain(`apps[0] (${MINI}): kind is required`);
    });

    it('takes an appid of wx and 16 letters or digits, and refuses any other shape', () => {
      expect(remote([mini({ appid: 'wxABCDEF0123456789' })]).apps[0]?.appid).to.equal('wxABCDEF0123456789');
      for (const appid of [
        'wx1234567890abcde',
        'wx1234567890abcdef0',
        'ab1234567890abcdef',
        'wx1234567890abcde_',
        42,
      ]) {
        expect(refused([mini({ appid })])).to.equal(
          'WECHAT_APPS_FILE: apps[0] (no valid appid): appid must be wx followed by 16 letters or digits, such as wx1234567890abcdef',
        );
      }
      expect(refused([mini({ appid: undefined })])).to.equal(
        'WECHAT_APPS_FILE: apps[0] (no valid appid): appid is required',
      );
    });

    it('refuses an appid listed twice, in any case, naming both places', () => {
      expect(refused([mini(), web(), mini({ appid: MINI.toUpperCase().replace('WX', 'wx') })])).to.equal(
        `WECHAT_APPS_FILE: apps[2] (wx1234567890ABCDEF): appid is listed twice (first as apps[0])`,
      );
    });

    it('shows a name of up to 64 printable characters of any script, and refuses any other', () => {
      expect(remote([mini({ name: '商城' })]).apps[0]?.name).to.equal('商城');
      expect(remote([mini({ name: 'x'.repeat(64) })]).apps[0]?.name).to.have.length(64);
      for (const name of ['x'.repeat(65), '', '   ', 'tab\there', 'rtl\u202eevil', 7]) {
        expect(refused([mini({ name })])).to.equal(
          `WECHAT_APPS_FILE: apps[0] (${MINI}): name must be 1 to 64 printable characters`,
        );
      }
    });

    it('takes an audience as a string or a non-empty list of strings of 1 to 256 characters', () => {
      expect(remote([mini({ audience: 'shop' })]).apps[0]?.audience).to.deep.equal(['shop']);
      expect(remote([mini({ audience: ['a', 'b'] })]).apps[0]?.audience).to.deep.equal(['a', 'b']);
      for (const audience of [[], '', [''], ['x'.repeat(257)], 5, ['a', 5]]) {
        expect(refused([mini({ audience })])).to.equal(
          `WECHAT_APPS_FILE: apps[0] (${MINI}): audience must be a string or a non-empty list of strings, each 1 to 256 characters`,
        );
      }
    });

    it('takes claims ["unionid"] only', () => {
      expect(remote([mini({ claims: ['unionid'] })]).apps[0]?.claims).to.deep.equal(['unionid']);
      expect(remote([mini({ claims: [] })]).apps[0]?.claims).to.deep.equal([]);
      for (const claims of [['email'], 'unionid', ['unionid', 'phone']]) {
        expect(refused([mini({ claims })])).to.equal(
          `WECHAT_APPS_FILE: apps[0] (${MINI}): claims must be a list of "unionid"`,
        );
      }
    });

    it('refuses a field it does not know, naming it (a typo would otherwise be ignored)', () => {
      expect(refused([mini({ redirect_uri: ['https://a.example.com/'] })])).to.equal(
        `WECHAT_APPS_FILE: apps[0] (${MINI}): unknown field "redirect_uri"`,
      );
    });

    it('refuses an entry that is not an object', () => {
      expect(refused([mini(), 'wx2234567890abcdef'])).to.equal(
        'WECHAT_APPS_FILE: apps[1]: expected an object with appid and kind',
      );
    });
  });

  describe('redirect URIs', () => {
    it('are required for official_account and website apps', () => {
      for (const kind of ['official_account', 'website']) {
        for (const redirect_uris of [undefined, []]) {
          expect(refused([web({ kind, redirect_uris })])).to.equal(
            `WECHAT_APPS_FILE: apps[0] (${WEB}): redirect_uris is required for a ${kind} app: a non-empty list of the URIs a login may return to`,
          );
        }
      }
    });

    it('are refused for miniprogram and mobile apps', () => {
      for (const kind of ['miniprogram', 'mobile']) {
        expect(refused([mini({ kind, redirect_uris: ['https://a.example.com/'] })])).to.equal(
          `WECHAT_APPS_FILE: apps[0] (${MINI}): redirect_uris is only for official_account and website apps`,
        );
      }
    });

    it('take exact absolute https URLs, with a query', () => {
      const uris = ['https://shop.example.com/auth/callback', 'https://shop.example.com:8443/cb?from=wx'];
      expect(remote([web({ redirect_uris: uris })]).apps[0]?.redirectUris).to.deep.equal(uris);
    });

    const bad: Array<[string, unknown, string]> = [
      ['plain http', 'http://shop.example.com/cb', 'must be an absolute https URL'],
      ['relative', '/auth/callback', 'must be an absolute https URL'],
      ['another scheme', 'wxshop://callback', 'must be an absolute https URL'],
      ['a fragment', 'https://shop.example.com/cb#done', 'without a fragment'],
      ['an empty fragment', 'https://shop.example.com/cb#', 'without a fragment'],
      ['a wildcard', 'https://*.example.com/cb', 'wildcards (*) are not allowed'],
      ['a wildcard path', 'https://shop.example.com/*', 'wildcards (*) are not allowed'],
      ['a user', 'https://user@shop.example.com/cb', 'must not carry a user or password'],
      ['a user and password', 'https://user:pw@shop.example.com/cb', 'must not carry a user or password'],
      ['an empty user', 'https://@shop.example.com/cb', 'must not carry a user or password'],
      ['spaces', 'https://shop.example.com/a b', 'must be an absolute https URL'],
      ['not a string', 42, 'must be an absolute https URL'],
    ];
    for (const [what, uri, why] of bad) {
      it(`refuses one with ${what}, naming the app and its index`, () => {
        const message = refused([web({ redirect_uris: ['https://shop.example.com/ok', uri] })]);
        expect(message).to.match(
          new RegExp(`^WECHAT_APPS_FILE: apps\\[0\\] \\(${WEB}\\): redirect_uris\\[1\\] `),
        );
        expect(message).to.contain(why);
      });
    }

    it('refuses one listed twice', () => {
      expect(
        refused([web({ redirect_uris: ['https://shop.example.com/cb', 'https://shop.example.com/cb'] })]),
      ).to.equal(`WECHAT_APPS_FILE: apps[0] (${WEB}): redirect_uris lists a URI twice`);
    });

    it('take http://localhost and http://127.0.0.1 outside production only', () => {
      const local = ['http://localhost:8080/cb', 'http://127.0.0.1/cb'];
      expect(remote([web({ redirect_uris: local })]).apps[0]?.redirectUris).to.deep.equal(local);
      const message = refusal({
        ...PRODUCTION_REST,
        WECHAT_APPS_FILE: file({ apps: [web({ redirect_uris: local })] }),
      });
      expect(message.split('; ')).to.deep.equal([
        `WECHAT_APPS_FILE: apps[0] (${WEB}): redirect_uris[0] must be https when NODE_ENV=production (http://localhost is for development)`,
        `WECHAT_APPS_FILE: apps[0] (${WEB}): redirect_uris[1] must be https when NODE_ENV=production (http://localhost is for development)`,
      ]);
    });
  });

  describe('QR_LOGIN_APPID', () => {
    it('defaults to the first miniprogram app, wherever it is listed', () => {
      expect(remote([web(), mini(), mini({ appid: MINI_2 })]).qrLoginAppid).to.equal(MINI);
    });

    it('takes a miniprogram app of the file', () => {
      expect(remote([mini(), mini({ appid: MINI_2 })], { QR_LOGIN_APPID: MINI_2 }).qrLoginAppid).to.equal(
        MINI_2,
      );
    });

    it('is empty with no miniprogram app: no web login by scanning', () => {
      expect(remote([web(), mini({ appid: MINI_2, kind: 'mobile' })]).qrLoginAppid).to.equal('');
    });

    it('refuses an appid that is not configured, or not a mini-program, naming it', () => {
      expect(refused([mini()], { QR_LOGIN_APPID: MINI_2 })).to.equal(
        `QR_LOGIN_APPID names ${MINI_2}, which is not a configured app`,
      );
      expect(refused([mini(), web()], { QR_LOGIN_APPID: WEB })).to.equal(
        `QR_LOGIN_APPID names ${WEB}, a website app: it must be a miniprogram app`,
      );
      expect(refusal({ WECHAT_APPID: MINI, WECHAT_SECRET: SECRET, QR_LOGIN_APPID: MINI_2 })).to.contain(
        'QR_LOGIN_APPID',
      );
      expect(refusal({ QR_LOGIN_APPID: 'not an appid' })).to.match(/^QR_LOGIN_APPID is invalid/);
    });

    it('is passed on as given with the emulator, which otherwise shows its own', () => {
      expect(loadConfig({}).wechat.qrLoginAppid).to.equal(undefined);
      expect(loadConfig({ QR_LOGIN_APPID: MINI }).wechat).to.include({
        mode: 'emulator',
        qrLoginAppid: MINI,
      });
    });
  });

  describe('beside the other settings', () => {
    it('is WeChat credentials: real parts beside it run against WeChat, not the emulator', () => {
      const config = loadConfig({
        WECHAT_APPS_FILE: file({ apps: [mini()] }),
        REDIS_URL: 'redis://10.0.0.5:6379',
        WECHAT_EMULATOR: '0',
        WECHAT_API_BASE: 'http://127.0.0.1:9/',
      });
      expect(config.wechat).to.include({ mode: 'remote', apiBase: 'http://127.0.0.1:9' });
      expect(config.host).to.equal(undefined);
    });

    it('is refused beside WECHAT_EMULATOR=1, naming both', () => {
      expect(refusal({ WECHAT_APPS_FILE: file({ apps: [mini()] }), WECHAT_EMULATOR: '1' })).to.match(
        /^WECHAT_EMULATOR=1 and WECHAT_APPS_FILE are exclusive/,
      );
    });

    it('stands for WECHAT_APPID/WECHAT_SECRET in production', () => {
      const config = loadConfig({ ...PRODUCTION_REST, WECHAT_APPS_FILE: file({ apps: [mini(), web()] }) });
      expect(config.wechat.mode === 'remote' && config.wechat.apps.length).to.equal(2);
      expect(refusal(PRODUCTION_REST)).to.equal(
        'WECHAT_APPID and WECHAT_SECRET (or WECHAT_APPS_FILE) are required when NODE_ENV=production',
      );
      expect(refusal({ ...PRODUCTION_REST, WECHAT_APPID: MINI })).to.equal(
        'WECHAT_SECRET is required when NODE_ENV=production',
      );
    });

    it('names itself when production refuses the emulator or real parts lack credentials', () => {
      expect(refusal({ ...PRODUCTION_REST, WECHAT_EMULATOR: '1' })).to.contain('WECHAT_APPS_FILE');
      expect(refusal({ REDIS_URL: 'redis://10.0.0.5:6379' })).to.contain('WECHAT_APPS_FILE');
    });
  });

  it('loads docs/apps.example.json with the secrets from WECHAT_SECRET_<APPID>', () => {
    const path = new URL('../../docs/apps.example.json', import.meta.url).pathname;
    const listed = (JSON.parse(readFileSync(path, 'utf8')) as { apps: Array<{ appid: string }> }).apps;
    const secrets = Object.fromEntries(
      listed.map(({ appid }) => [`WECHAT_SECRET_${appid.toUpperCase()}`, SECRET]),
    );
    const { wechat } = loadConfig({ ...PRODUCTION_REST, WECHAT_APPS_FILE: path, ...secrets });
    if (wechat.mode !== 'remote') throw new Error('expected remote mode');
    expect(wechat.apps.map((app) => app.kind)).to.deep.equal([
      'miniprogram',
      'miniprogram',
      'mobile',
      'official_account',
      'website',
    ]);
    expect(wechat.qrLoginAppid).to.equal(listed[0]?.appid);
    expect(wechat.apps.every((app) => app.secret === SECRET)).to.equal(true);
  });
});
