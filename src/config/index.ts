export {
  type AdminKeySetting,
  adminKeyDigest,
  type Config,
  ConfigError,
  type Environment,
  loadConfig,
  type RateLimit,
  type RateLimitSettings,
  type RedisSettings,
  type WechatSettings,
} from './load.js';
export { loadProcessConfig } from './process.js';
export { renderEnvExample, renderSettingsTable } from './render.js';
export { SETTINGS, type SettingName, type SettingSpec } from './schema.js';
