import { Cluster, Redis } from 'ioredis';

/** Longest pause between two reconnection attempts, ms. */
const MAX_RECONNECT_DELAY_MS = 2000;

/** Never gives up (so a connection recovers by itself), backing off up to MAX_RECONNECT_DELAY_MS. */
export function reconnectDelay(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 10), MAX_RECONNECT_DELAY_MS);
}

/**
 * A new connection for SUBSCRIBE (`name` shows in CLIENT LIST), or undefined while a Cluster client
 * knows no node yet. It does not reconnect or resubscribe by itself: its owner does both, and catches
 * up on what it missed meanwhile. In a Cluster any node will do: PUBLISH reaches every node.
 */
export function subscriberFor(redis: Redis | Cluster, name: string): Redis | undefined {
  const own = {
    connectionName: name,
    autoResubscribe: false,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  };
  if (redis instanceof Cluster) {
    const nodes = redis.nodes('all');
    const node = nodes[Math.floor(Math.random() * nodes.length)];
    if (node === undefined) return undefined;
    return new Redis({
      ...redis.options.redisOptions,
      host: node.options.host,
      port: node.options.port,
      ...own,
    });
  }
  return redis.duplicate(own);
}
