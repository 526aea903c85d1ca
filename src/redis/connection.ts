import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { redisUrls } from '../config.js';

/** A single Redis or a Redis Cluster: the commands Conveyor uses are the same on both. */
export type RedisClient = Redis | Cluster;

/** How long between reconnection attempts, growing to this at most: a node is back within 10 s of Redis. */
const RECONNECT_MAX_MS = 2000;

function optionsOf(url: URL): RedisOptions {
  return {
    ...(url.username !== '' ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password !== '' ? { password: decodeURIComponent(url.password) } : {}),
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
    ...(url.pathname.length > 1 ? { db: Number(url.pathname.slice(1)) || 0 } : {}),
  };
}

/**
 * Opens a connection as `--redis` names it. Commands fail at once while Redis is away
 * (no offline queue): the node serves its own sockets meanwhile and re-registers what it
 * holds when the link is back, rather than replaying a queue of stale changes.
 * Subscriptions are the exception (`role`).
 */
export function connectRedis(spec: string, name: string, role: 'commands' | 'subscriptions' = 'commands'): RedisClient {
  const urls = redisUrls(spec).map((url) => new URL(url));
  const retryStrategy = (times: number): number => Math.min(100 * 2 ** Math.min(times, 5), RECONNECT_MAX_MS);
  // A subscription waits for its connection (a Cluster opens one per shard on first use):
  // refused at once, it would be lost until the next reconnection.
  const enableOfflineQueue = role === 'subscriptions';
  const common = { connectionName: name, enableOfflineQueue, autoResubscribe: false, maxRetriesPerRequest: 1, retryStrategy, lazyConnect: false } satisfies RedisOptions;
  if (urls.length === 1) {
    const url = urls[0]!;
    return new Redis({ host: url.hostname, port: Number(url.port || 6379), ...optionsOf(url), ...common, enableAutoPipelining: true });
  }
  return new Cluster(
    urls.map((url) => ({ host: url.hostname, port: Number(url.port || 6379) })),
    {
      redisOptions: { ...optionsOf(urls[0]!), ...common },
      enableOfflineQueue,
      enableAutoPipelining: true,
      clusterRetryStrategy: retryStrategy,
      // Sharded pub/sub: each channel lives on the shard of its slot, so no Redis node carries every message.
      shardedSubscribers: true,
    },
  );
}

export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}
