export { userKeys } from './keys.js';
export { MemoryStore } from './memory.js';
export { connectRedis, RedisStore } from './redis.js';
export type { LoginWrite, RotateOutcome, RotateRequest, SessionStore, UserRecord } from './types.js';
