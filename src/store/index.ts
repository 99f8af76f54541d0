export { EncryptingStore } from './encrypted.js';
export { appKeys, userKeys } from './keys.js';
export { MemoryStore } from './memory.js';
export { type Person, personByUnionid, personOf } from './person.js';
export { connectRedis, newestFirst, RedisStore } from './redis.js';
export { StallGuard } from './stall-guard.js';
export type * from './types.js';
export {
  WEB_LOGIN_KEEP_MS,
  type WebLoginAdvance,
  type WebLoginStatus,
  type WebLoginStep,
  type WebLoginStore,
  type WebLoginTicket,
  type WebLoginWatch,
} from './web-login.js';
