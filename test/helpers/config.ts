import { expect } from 'chai';
import { ConfigError, loadConfig } from '../../src/config/index.js';

/** The one-line ConfigError that `env` stops start-up with; fails the test when it is accepted. */
export function refusal(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).to.be.instanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('loadConfig accepted the settings');
}

/** Every setting production requires but PUBLIC_URL (which tests of it leave out or vary). */
export const PRODUCTION_WITHOUT_URL = {
  NODE_ENV: 'production',
  WECHAT_APPID: 'wx1234567890abcdef',
  WECHAT_SECRET: 'abcdef0123456789abcdef0123456789',
  JWT_SIGNING_KEYS_FILE: '/etc/wxauth/keys.json',
  SESSION_KEY_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}`,
  REDIS_URL: 'redis://127.0.0.1:6390',
};
