export { EncryptingStore } from './encrypted.js';
export { appKeys, userKeys } from './keys.js';
export { MemoryStore } from './memory.js';
export { connectRedis, RedisStore } from './redis.js';
export { StallGuard } from './stall-guard.js';
export type {
  CachedAccessToken,
  LoginCodeClaim,
  LoginWrite,
  RotateOutcome,
  RotateRequest,
  SessionStore,
  UserRecord,
} from './types.js';
