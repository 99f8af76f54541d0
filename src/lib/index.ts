export { type Clock, epochSeconds, ManualClock, systemClock } from './clock.js';
export { randomId } from './random.js';
