import type { AppDirectory } from '../apps/apps.js';
import type { ServerConfig } from '../config.js';
import type { Logger } from '../log.js';
import type { Engine, EngineEvents } from '../registry/engine.js';
import { MemoryEngine } from '../registry/memory/memory-engine.js';
import { RedisEngine } from '../registry/redis/redis-engine.js';
import type { TopicWorkers } from '../registry/topic-workers.js';

/** The one place that chooses: one machine keeps the state in memory, several share it in Redis. */
export function createEngine(config: ServerConfig, topics: TopicWorkers, events: EngineEvents, apps: AppDirectory, log: Logger): Engine {
  if (config.redis === undefined) return new MemoryEngine(config, topics, events);
  return new RedisEngine(config, topics, events, {
    redis: config.redis,
    redisPrefix: config.redisPrefix,
    pendingLimit: config.ipcQueueLimit,
    countsConnections: (app) => (apps.byId(app)?.maxConnections ?? 0) > 0,
  }, log);
}
