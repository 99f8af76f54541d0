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

/** What a Subscription tells its owner. */
export interface SubscriptionEvents {
  /** A message on the channel. */
  message(text: string): void;
  /**
   * Subscribed, the first time or again after a gap: what was published meanwhile was missed. `current`
   * says whether this subscriber is still the one in use (a catch-up may take a while).
   */
  subscribed(subscriber: Redis, current: () => boolean): void;
  /** The connection closed: nothing is heard until `subscribed` again. */
  lost(): void;
  /**
   * A connection ended before it subscribed (the store unreachable, SUBSCRIBE refused): why, as the
   * connection or Redis said it. Another is made after a back-off.
   */
  failed?(reason: string): void;
}

/**
 * One subscriber connection to `channel`, made on start(), kept up until close(). It never reconnects
 * by itself: once it ends, a new one is made (after a back-off), so a Cluster node that is gone for
 * good is left for another.
 */
export class Subscription {
  private subscriber: Redis | undefined;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly channel: string,
    private readonly name: string,
    private readonly events: SubscriptionEvents,
  ) {}

  /** The connection in use, if any. */
  get connection(): Redis | undefined {
    return this.subscriber;
  }

  /** Connects unless connected or about to be. */
  start(): void {
    if (this.subscriber === undefined && this.timer === undefined) this.connect();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.subscriber?.disconnect();
    this.subscriber = undefined;
  }

  private connect(): void {
    this.timer = undefined;
    if (this.closed) return;
    const subscriber = subscriberFor(this.redis, this.name);
    if (subscriber === undefined) {
      this.retryLater();
      return;
    }
    this.subscriber = subscriber;
    const current = () => this.subscriber === subscriber;
    // Connection errors are the store's connection's to log; this one's end is what matters here, and
    // why it ended before subscribing, which its owner is told.
    let subscribed = false;
    let why = 'the connection to the store ended before it could subscribe';
    subscriber.on('error', (error: Error) => {
      why = error.message;
    });
    subscriber.on('message', (_channel: string, text: string) => this.events.message(text));
    subscriber.on('ready', () => {
      subscriber.subscribe(this.channel).then(
        () => {
          if (!current()) return;
          subscribed = true;
          this.attempt = 0;
          this.events.subscribed(subscriber, current);
        },
        (error: Error) => {
          why = `SUBSCRIBE refused: ${error.message}`;
          subscriber.disconnect();
        },
      );
    });
    subscriber.on('close', () => {
      if (current()) this.events.lost();
    });
    subscriber.once('end', () => {
      if (!current()) return;
      this.subscriber = undefined;
      if (!subscribed && !this.closed) this.events.failed?.(why);
      this.retryLater();
    });
  }

  private retryLater(): void {
    if (this.closed || this.timer !== undefined) return;
    this.attempt += 1;
    this.timer = setTimeout(() => this.connect(), reconnectDelay(this.attempt));
    this.timer.unref();
  }
}
