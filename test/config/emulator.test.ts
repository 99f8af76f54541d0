import { expect } from 'chai';
import { loadConfig } from '../../src/config/index.js';
import { refusal } from '../helpers/config.js';

const AT_REST = `k1:${Buffer.alloc(32, 1).toString('base64')}`;

/** Each setting that makes a configuration real: with it, a missing WeChat credential is a mistake. */
const REAL_PARTS: Record<string, Record<string, string>> = {
  REDIS_URL: { REDIS_URL: 'redis://10.0.0.5:6379' },
  REDIS_CLUSTER_NODES: { REDIS_CLUSTER_NODES: 'a:7000,b:7000' },
  REDIS_SENTINELS: { REDIS_SENTINELS: 'a:26379', REDIS_SENTINEL_NAME: 'mymaster' },
  JWT_SIGNING_KEYS_FILE: { JWT_SIGNING_KEYS_FILE: '/etc/wxauth/keys.json' },
  SESSION_KEY_ENCRYPTION_KEYS: { SESSION_KEY_ENCRYPTION_KEYS: AT_REST },
};

describe('configuration: the built-in WeChat emulator', () => {
  it('runs the emulator when nothing real is configured', () => {
    expect(loadConfig({}).wechat.mode).to.equal('emulator');
    expect(loadConfig({ PORT: '8080', LOG_LEVEL: 'warn' }).wechat.mode).to.equal('emulator');
  });

  for (const [name, env] of Object.entries(REAL_PARTS)) {
    it(`refuses to start with ${name} set and no WeChat credentials, naming WECHAT_APPID in one line`, () => {
      for (const nodeEnv of [{}, { NODE_ENV: 'development' }, { NODE_ENV: 'test' }] as Record<
        string,
        string
      >[]) {
        const message = refusal({ ...env, ...nodeEnv });
        expect(message).to.contain('WECHAT_APPID');
        expect(message).to.contain(name);
        expect(message).not.to.contain('\n');
      }
    });
  }

  it('runs the emulator beside real parts when WECHAT_EMULATOR=1 asks for it', () => {
    const config = loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', WECHAT_EMULATOR: '1' });
    expect(config.wechat.mode).to.equal('emulator');
    expect(config.redis.kind).to.equal('url');
    // Still a development mode: loopback only unless HOST says otherwise.
    expect(config.host).to.equal('127.0.0.1');
  });

  it('refuses WECHAT_EMULATOR=1 in production, naming it', () => {
    const message = refusal({
      NODE_ENV: 'production',
      WECHAT_EMULATOR: '1',
      JWT_SIGNING_KEYS_FILE: '/etc/wxauth/keys.json',
      SESSION_KEY_ENCRYPTION_KEYS: AT_REST,
      REDIS_URL: 'redis://10.0.0.5:6379',
      PUBLIC_URL: 'https://auth.example.com',
    });
    expect(message).to.contain('WECHAT_EMULATOR');
    expect(message).to.contain('production');
  });

  it('refuses WECHAT_EMULATOR=1 beside WeChat credentials, and any value but 0 or 1', () => {
    expect(
      refusal({ WECHAT_EMULATOR: '1', WECHAT_APPID: 'wx1234567890abcdef', WECHAT_SECRET: 'abc123' }),
    ).to.contain('WECHAT_EMULATOR');
    expect(refusal({ WECHAT_EMULATOR: 'yes' })).to.match(/^WECHAT_EMULATOR is invalid/);
  });

  it('with WECHAT_EMULATOR=0 requires WeChat credentials even when nothing else is set', () => {
    expect(refusal({ WECHAT_EMULATOR: '0' })).to.contain('WECHAT_APPID');
    const config = loadConfig({
      WECHAT_EMULATOR: '0',
      WECHAT_APPID: 'wx1234567890abcdef',
      WECHAT_SECRET: 'abc123',
      REDIS_URL: 'redis://10.0.0.5:6379',
    });
    expect(config.wechat.mode).to.equal('remote');
  });
});
