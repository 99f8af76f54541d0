import { type RedisServer, startRedisServer } from './redis.js';

export type { RedisServer } from './redis.js';
export { startRedisServer } from './redis.js';

let shared: Promise<RedisServer> | undefined;
let prefixCounter = 0;

/**
 * The one private redis-server of this test run, started on first use. Suites isolate their keys with
 * freshPrefix() rather than flushing, so they never disturb each other.
 */
export function testRedis(): Promise<RedisServer> {
  shared ??= startRedisServer().catch((error: unknown) => {
    shared = undefined;
    throw error;
  });
  return shared;
}

/** A key prefix no other test of this run uses, e.g. `t7:`. */
export function freshPrefix(): string {
  prefixCounter += 1;
  return `t${prefixCounter}:`;
}

async function stopSharedRedis(): Promise<void> {
  const server = shared;
  // Forgotten first, so a later file (mocha --parallel runs root hooks per file) starts a new one.
  shared = undefined;
  if (server !== undefined) await (await server).stop();
}

export const mochaHooks = {
  async afterAll(): Promise<void> {
    await stopSharedRedis();
  },
};
