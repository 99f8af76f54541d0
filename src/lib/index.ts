export { type Clock, epochSeconds, ManualClock, systemClock } from './clock.js';
export {
  APPID_PATTERN,
  CODE_PATTERN,
  CODE_SHAPE,
  isOpenid,
  OPENID_PATTERN,
  OPENID_SHAPE,
  type Openid,
  requireOpenid,
} from './ids.js';
export { createLogger, flushLogs, type Logger, REDACTED_PATHS } from './logger.js';
export { randomBytes, randomId, sequentialIds } from './random.js';
export { tuneRuntime } from './runtime.js';
