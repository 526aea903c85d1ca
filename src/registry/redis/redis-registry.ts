import type { Redis } from 'ioredis';
import type { RedisClient } from '../../redis/connection.js';
import { AT_LEAST, COUNT_ADMIT, COUNT_RELEASE, HEARTBEAT, HISTORY_APPEND, HISTORY_READ, NODE_REPLACE, NODE_SET, TOKEN_ADMIT } from './redis-scripts.js';
import { isCluster } from '../../redis/connection.js';

/** A hash of node parts, as the scripts return it: field → (node → value). */
export type NodeParts = Map<string, Record<string, unknown>>;

interface Scripted {
  cvNodeSet(key: string, field: string, node: string, value: string, allUpTo: number): Promise<[number, number, string[]]>;
  cvNodeReplace(key: string, node: string, want: string): Promise<[string[], string[], string[]]>;
  cvCountAdmit(key: string, node: string, limit: number): Promise<number>;
  cvCountRelease(key: string, node: string): Promise<number>;
  cvHeartbeat(key: string, node: string, ttlMs: number): Promise<[string[], string[]]>;
  cvAtLeast(key: string, value: number): Promise<number>;
  cvTokenAdmit(key: string): Promise<string | null>;
  cvHistoryAppend(stream: string, meta: string, open: string, size: number, ttlMs: number, channel: string, rest: string, epoch: string, sharded: string): Promise<number>;
  cvHistoryRead(
    stream: string,
    meta: string,
    epoch: string,
    ttlMs: number,
    channel: string,
    marker: string,
    sharded: string,
    askedEpoch: string,
    since: number,
    limit: string,
    maxBytes: number,
  ): Promise<[string, number, number, [string, string[]][], number]>;
}

/** What kind of state a key holds, read back from its name when a dead node's keys are taken out. */
export type KeyKind =
  | { kind: 'native'; channel: string }
  | { kind: 'pusher-channels'; app: string }
  | { kind: 'pusher-users'; app: string; channel: string }
  | { kind: 'group'; topic: string }
  | { kind: 'counts' };

function parts(flat: string[]): NodeParts {
  const out: NodeParts = new Map();
  for (let i = 0; i + 1 < flat.length; i += 2) out.set(flat[i]!, JSON.parse(flat[i + 1]!) as Record<string, unknown>);
  return out;
}

/**
 * The server's shared state in Redis, as one node writes and reads it: each operation is one
 * command or one script on one key (hash-tagged, so a Redis Cluster keeps it on one shard).
 * Knows nothing of sockets or frames: the router decides what a change means.
 */
export class RedisRegistry {
  private readonly redis: RedisClient & Scripted;
  /** Keys this node has a part in, so that they can be found when it is gone. */
  private readonly indexed = new Set<string>();
  private readonly sharded: boolean;

  constructor(
    client: RedisClient,
    private readonly prefix: string,
    readonly node: string,
  ) {
    const define = (name: string, numberOfKeys: number, lua: string): void => (client as Redis).defineCommand(name, { numberOfKeys, lua });
    define('cvNodeSet', 1, NODE_SET);
    define('cvNodeReplace', 1, NODE_REPLACE);
    define('cvCountAdmit', 1, COUNT_ADMIT);
    define('cvCountRelease', 1, COUNT_RELEASE);
    define('cvHeartbeat', 1, HEARTBEAT);
    define('cvAtLeast', 1, AT_LEAST);
    define('cvTokenAdmit', 1, TOKEN_ADMIT);
    define('cvHistoryAppend', 2, HISTORY_APPEND);
    define('cvHistoryRead', 2, HISTORY_READ);
    this.sharded = isCluster(client);
    this.redis = client as RedisClient & Scripted;
  }

  // Key names. Braces hold the hash tag: what one operation touches shares a slot.
  nativeKey(channel: string): string {
    return `${this.prefix}:n:{${channel}}`;
  }
  pusherChannelsKey(app: string): string {
    return `${this.prefix}:pc:{${app}}`;
  }
  pusherUsersKey(app: string, channel: string): string {
    return `${this.prefix}:pu:{${app}}:${channel}`;
  }
  pusherConnectionsKey(app: string): string {
    return `${this.prefix}:pn:{${app}}`;
  }
  groupKey(topic: string): string {
    return `${this.prefix}:g:{${topic}}`;
  }
  addressKey(address: string): string {
    return `${this.prefix}:addr:{${address}}`;
  }
  private tokenKey(token: string): string {
    return `${this.prefix}:tok:${token}`;
  }
  private cacheKey(app: string, channel: string): string {
    return `${this.prefix}:cache:{${app}}:${channel}`;
  }
  private nodeKeysKey(node: string): string {
    return `${this.prefix}:nk:{${node}}`;
  }
  private get nodesKey(): string {
    return `${this.prefix}:nodes`;
  }
  private get fdKey(): string {
    return `${this.prefix}:fd`;
  }

  kindOf(key: string): KeyKind {
    const rest = key.slice(this.prefix.length + 1);
    const tagged = (from: number): string => rest.slice(from + 1, rest.indexOf('}', from));
    if (rest.startsWith('n:{')) return { kind: 'native', channel: rest.slice(3, -1) };
    if (rest.startsWith('g:{')) return { kind: 'group', topic: rest.slice(3, -1) };
    if (rest.startsWith('pc:{')) return { kind: 'pusher-channels', app: tagged(3) };
    if (rest.startsWith('pu:{')) {
      const app = tagged(3);
      return { kind: 'pusher-users', app, channel: rest.slice(3 + app.length + 3) };
    }
    return { kind: 'counts' };
  }

  /**
   * Sets this node's part of `field` (undefined removes it). `all` is the whole hash after,
   * when it has at most `allUpTo` fields; empty otherwise.
   */
  async set(key: string, field: string, value: unknown, allUpTo = -1): Promise<{ transition: -1 | 0 | 1; size: number; all: NodeParts }> {
    if (value !== undefined) await this.index(key);
    const [transition, size, all] = await this.redis.cvNodeSet(key, field, this.node, value === undefined ? '' : JSON.stringify(value), allUpTo);
    return { transition: transition as -1 | 0 | 1, size, all: parts(all) };
  }

  /** Makes `node`'s part of a hash exactly `want` (field → value); {} takes the node out of it. */
  async replace(key: string, want: Record<string, unknown>, node = this.node): Promise<{ added: string[]; removed: string[]; all: NodeParts }> {
    if (node === this.node && Object.keys(want).length > 0) await this.index(key);
    const [added, removed, all] = await this.redis.cvNodeReplace(key, node, JSON.stringify(want));
    return { added, removed, all: parts(all) };
  }

  async all(key: string): Promise<NodeParts> {
    const flat = await this.redis.hgetall(key);
    const out: NodeParts = new Map();
    for (const [field, value] of Object.entries(flat)) out.set(field, JSON.parse(value) as Record<string, unknown>);
    return out;
  }

  async fields(key: string): Promise<string[]> {
    return this.redis.hkeys(key);
  }

  async size(key: string): Promise<number> {
    return this.redis.hlen(key);
  }

  async part(key: string, field: string): Promise<Record<string, unknown> | undefined> {
    const value = await this.redis.hget(key, field);
    return value === null ? undefined : (JSON.parse(value) as Record<string, unknown>);
  }

  // Counts per node (connections per address, per Pusher app).
  async admit(key: string, limit: number): Promise<boolean> {
    await this.index(key);
    return (await this.redis.cvCountAdmit(key, this.node, limit)) === 1;
  }
  async release(key: string): Promise<void> {
    await this.redis.cvCountRelease(key, this.node);
  }
  /** Sets this node's count outright (re-registering), or takes it out at 0. */
  async setCount(key: string, count: number, node = this.node): Promise<void> {
    if (count > 0) {
      await this.index(key);
      await this.redis.hset(key, node, count);
    } else await this.redis.hdel(key, node);
  }

  // History: a stream per channel, and its epoch and counter, in the slot of its bus channel.
  /** The bus channel of a topic: hash-tagged, so that the history script may publish to it on a Redis Cluster. */
  busChannel(topic: string): string {
    return `${this.prefix}:b:{${topic}}`;
  }

  async historyAppend(topic: string, open: string, rest: string, size: number, ttlMs: number, epoch: string): Promise<number> {
    return this.redis.cvHistoryAppend(`${this.prefix}:h:{${topic}}`, `${this.prefix}:hm:{${topic}}`, open, size, ttlMs, this.busChannel(topic), rest, epoch, this.sharded ? '1' : '0');
  }

  /**
   * Reads what a replay needs of a channel's history (HISTORY_READ says which frames); a
   * `marker` is published on its bus channel in the same step.
   */
  async historyRead(
    topic: string,
    epoch: string,
    ttlMs: number,
    request: { since: number; epoch?: string | undefined; limit?: number | undefined; maxBytes?: number | undefined },
    marker = '',
  ): Promise<{ epoch: string; seq: number; frames: { seq: number; frame: string }[]; more: boolean }> {
    const { since, epoch: asked = '', limit, maxBytes = 0 } = request;
    const [current, seq, , entries, more] = await this.redis.cvHistoryRead(
      `${this.prefix}:h:{${topic}}`,
      `${this.prefix}:hm:{${topic}}`,
      epoch,
      ttlMs,
      this.busChannel(topic),
      marker,
      this.sharded ? '1' : '0',
      asked,
      since,
      limit === undefined ? '' : String(limit),
      maxBytes,
    );
    const frames = entries.map(([id, fields]) => ({ seq: Number(id.slice(0, id.indexOf('-'))), frame: fields[1]! }));
    return { epoch: current, seq: Number(seq), frames, more: Number(more) === 1 };
  }

  // Temporary tokens: Redis expires them.
  async putToken(token: string, channel: string | null, ttlSeconds: number): Promise<void> {
    await this.redis.set(this.tokenKey(token), channel ?? '', 'EX', Math.ceil(ttlSeconds));
  }
  async admitToken(token: string): Promise<boolean> {
    return (await this.redis.cvTokenAdmit(this.tokenKey(token))) !== null;
  }
  async consumeToken(token: string, channel: string): Promise<boolean> {
    return (await this.redis.getdel(this.tokenKey(token))) === channel;
  }

  // Pusher cache channels.
  async remember(app: string, channel: string, frame: string, ttlMs: number): Promise<void> {
    await this.redis.set(this.cacheKey(app, channel), frame, 'PX', ttlMs);
  }
  async cached(app: string, channel: string): Promise<string | null> {
    return this.redis.get(this.cacheKey(app, channel));
  }

  /** A block of `count` fds no node has had: the first of them. */
  async fdBlock(count: number): Promise<number> {
    return (await this.redis.incrby(this.fdKey, count)) - count + 1;
  }
  /** After Redis lost its data: fds from here on start above `highest`. */
  async reseedFds(highest: number): Promise<void> {
    await this.redis.cvAtLeast(this.fdKey, highest);
  }

  /** Stamps this node alive; returns the live nodes and those silent for `ttlMs`. */
  async heartbeat(ttlMs: number, stamp = true): Promise<{ live: string[]; dead: string[] }> {
    const [live, dead] = await this.redis.cvHeartbeat(this.nodesKey, stamp ? this.node : '', ttlMs);
    return { live, dead };
  }

  /** True for the one survivor that takes a dead node's state out. */
  async claim(node: string): Promise<boolean> {
    return (await this.redis.set(`${this.prefix}:purge:{${node}}`, this.node, 'PX', 60_000, 'NX')) === 'OK';
  }

  async keysOf(node: string): Promise<string[]> {
    return this.redis.smembers(this.nodeKeysKey(node));
  }

  /** Forgets a node once its state is out. */
  async forget(node: string): Promise<void> {
    await this.redis.del(this.nodeKeysKey(node));
    await this.redis.zrem(this.nodesKey, node);
  }

  /** This node holds nothing of `key` any more: it need not be found when the node is gone. */
  unindex(key: string): void {
    if (!this.indexed.delete(key)) return;
    void this.redis.srem(this.nodeKeysKey(this.node), key).catch(() => {});
  }

  /** After Redis lost its data, every key must be indexed again. */
  reindex(): void {
    this.indexed.clear();
  }

  private async index(key: string): Promise<void> {
    if (this.indexed.has(key)) return;
    await this.redis.sadd(this.nodeKeysKey(this.node), key);
    this.indexed.add(key);
  }
}
