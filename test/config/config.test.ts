import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { readGeneratedTable } from '../../scripts/lib/doc-tables.js';
import { loadConfig, renderEnvExample, renderSettingsTable } from '../../src/config/index.js';
import { APP_KEY_LAYOUT, renderKeyLayoutTable, USER_KEY_LAYOUT } from '../../src/store/keys.js';
import { refusal } from '../helpers/config.js';

describe('configuration', () => {
  it('starts with no settings at all on the embedded defaults', () => {
    const config = loadConfig({});
    expect(config.wechat).to.deep.equal({
      mode: 'emulator',
      qrLoginAppid: undefined,
      timeoutMs: 5000,
      breakerThreshold: 5,
      breakerCooldownMs: 5000,
      openBase: 'https://open.weixin.qq.com',
    });
    expect(config.rateLimits.loginPerIp).to.deep.equal({ points: 30, seconds: 60 });
    expect(config.redis.kind).to.equal('memory');
    expect(config.tokens.signingKeysFile).to.equal(undefined);
    expect(config.port).to.equal(3000);
    expect(config.tokens).to.include({ accessTtlS: 900, refreshTtlS: 2592000, reuseGraceS: 10 });
  });

  it('names every missing setting in production, in one line', () => {
    const message = refusal({ NODE_ENV: 'production' });
    for (const name of [
      'WECHAT_APPID',
      'WECHAT_SECRET',
      'JWT_SIGNING_KEYS_FILE',
      'SESSION_KEY_ENCRYPTION_KEYS',
      'REDIS_URL',
    ]) {
      expect(message).to.contain(name);
    }
    expect(message).not.to.contain('\n');
  });

  it('accepts a complete production configuration', () => {
    const config = loadConfig({
      NODE_ENV: 'production',
      WECHAT_APPID: 'wx1234567890abcdef',
      WECHAT_SECRET: 'abcdef0123456789abcdef0123456789',
      JWT_SIGNING_KEYS_FILE: '/etc/wxauth/keys.json',
      SESSION_KEY_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}`,
      REDIS_SENTINELS: 'a:26379, b:26379',
      REDIS_SENTINEL_NAME: 'mymaster',
      PUBLIC_URL: 'https://auth.example.com',
    });
    expect(config.wechat).to.include({ mode: 'remote', apiBase: 'https://api.weixin.qq.com' });
    expect(config.redis).to.deep.equal({
      kind: 'sentinel',
      sentinels: ['a:26379', 'b:26379'],
      name: 'mymaster',
      prefix: 'wxauth:',
      commandTimeoutMs: 500,
    });
    expect(Object.isFrozen(config.tokens)).to.equal(true);
  });

  it('names a setting whose value is malformed', () => {
    expect(refusal({ PORT: 'eighty' })).to.match(/^PORT is invalid/);
    expect(refusal({ ACCESS_TOKEN_TTL: '-5' })).to.match(/^ACCESS_TOKEN_TTL is invalid/);
    expect(refusal({ REDIS_URL: 'http://cache:6379' })).to.match(/^REDIS_URL is invalid/);
    expect(refusal({ REDIS_CLUSTER_NODES: 'a:1,b' })).to.match(/^REDIS_CLUSTER_NODES is invalid/);
  });

  it('refuses one WeChat credential without the other', () => {
    expect(refusal({ WECHAT_APPID: 'wx1234567890abcdef' })).to.contain('WECHAT_SECRET is required');
    expect(refusal({ WECHAT_API_BASE: 'http://127.0.0.1:9' })).to.contain(
      'WECHAT_APPID and WECHAT_SECRET (or WECHAT_APPS_FILE) are required',
    );
  });

  it('refuses two Redis topologies at once and a Sentinel without its name', () => {
    expect(refusal({ REDIS_URL: 'redis://a:6379', REDIS_CLUSTER_NODES: 'b:7000' })).to.contain('exclusive');
    expect(refusal({ REDIS_SENTINELS: 'a:26379' })).to.contain('REDIS_SENTINEL_NAME is required');
  });

  it('reads rate limits as N/S and turns one off with 0', () => {
    const config = loadConfig({ RATE_LIMIT_LOGIN_PER_IP: '5/10', RATE_LIMIT_WECHAT_PER_USER: '0' });
    expect(config.rateLimits.loginPerIp).to.deep.equal({ points: 5, seconds: 10 });
    expect(config.rateLimits.wechatPerUser).to.equal(undefined);
    expect(refusal({ RATE_LIMIT_REFRESH_PER_IP: '10 per minute' })).to.match(
      /^RATE_LIMIT_REFRESH_PER_IP is invalid/,
    );
  });

  it('refuses session_key encryption keys that are not kid:32-byte-base64', () => {
    expect(refusal({ SESSION_KEY_ENCRYPTION_KEYS: 'k1:c2hvcnQ=' })).to.match(
      /^SESSION_KEY_ENCRYPTION_KEYS is invalid \(key k1 must be 32 bytes/,
    );
    expect(refusal({ SESSION_KEY_ENCRYPTION_KEYS: 'no-colon' })).to.match(
      /^SESSION_KEY_ENCRYPTION_KEYS is invalid/,
    );
    const key = Buffer.alloc(32, 2).toString('base64');
    expect(refusal({ SESSION_KEY_ENCRYPTION_KEYS: `a:${key},a:${key}` })).to.contain('unique');
  });

  it('treats a refresh max lifetime of 0 as none', () => {
    expect(loadConfig({ REFRESH_TOKEN_MAX_LIFETIME: '0' }).tokens.refreshMaxLifetimeS).to.equal(undefined);
    expect(loadConfig({ REFRESH_TOKEN_MAX_LIFETIME: '86400' }).tokens.refreshMaxLifetimeS).to.equal(86400);
  });

  it('keeps .env.example in step with the settings table', () => {
    expect(readFileSync(new URL('../../.env.example', import.meta.url), 'utf8')).to.equal(renderEnvExample());
  });

  it("keeps the configuration guide's settings table in step with the settings table", () => {
    expect(readGeneratedTable('settings')).to.equal(renderSettingsTable());
  });

  it("keeps the operations guide's Redis layout tables in step with store/keys.ts", () => {
    expect(readGeneratedTable('redis-user-keys')).to.equal(renderKeyLayoutTable(USER_KEY_LAYOUT));
    expect(readGeneratedTable('redis-app-keys')).to.equal(renderKeyLayoutTable(APP_KEY_LAYOUT));
  });
});
