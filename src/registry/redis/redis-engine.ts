import type { Publication } from '../../bus/bus.js';
import { HttpErrors, ServiceUnavailable } from '../../errors.js';
import { newEpoch } from '../../history/memory-history.js';
import { openFrame, pickReplay, type Replay, type ReplayRequest } from '../../history/sequenced-frame.js';
import type { Logger } from '../../log.js';
import { channelType } from '../../channel-types.js';
import { channelTopic } from '../../topics.js';
import type { ChannelStats, EngineEvents, EngineStats, MembershipChange, PresenceMember, PresenceSnapshot, PusherJoinResult } from '../engine.js';
import type { TopicWorkers } from '../topic-workers.js';
import type { GroupChange } from '../memory/group-registry.js';
import { MemoryEngine, type EngineConfig } from '../memory/memory-engine.js';
import { CACHE_TTL_MS, type PusherChange, rosterJson, rosterKey } from '../memory/pusher-registry.js';
import { ClusterNode } from './cluster-node.js';
import type { NodeParts } from './redis-registry.js';

/** What the Redis engine reads beside the memory engine's options. */
export interface RedisEngineOptions {
  /** --redis, and the prefix of every key and channel. */
  redis: string;
  redisPrefix: string;
  /** Bytes that may wait for Redis (--ipc-queue-limit). */
  pendingLimit: number;
  /** Whether an app's connections are counted across nodes (it has a connection limit). */
  countsConnections: (app: string) => boolean;
}

/** The name a Pusher channel's changes in flight are kept under. */
function channelScope(app: string, channel: string): string {
  return `${app}\u0000${channel}`;
}

/** A native member's part: its user id, or false. */
type NativePart = string | number | false;

/** The members Redis listed, or only their count when the channel was too large to list. */
function snapshotOf(all: NodeParts, size: number): PresenceSnapshot {
  if (all.size !== size) return { fds: [], userIds: {}, count: size };
  const fds: number[] = [];
  const userIds: Record<string, string | number> = {};
  for (const [field, parts] of all) {
    fds.push(Number(field));
    for (const part of Object.values(parts)) if (part !== false && part !== null) userIds[field] = part as string | number;
  }
  return { fds: fds.sort((a, b) => a - b), userIds };
}

function countOf(parts: Record<string, unknown> | undefined): number {
  let sum = 0;
  for (const part of Object.values(parts ?? {})) sum += typeof part === 'number' ? part : 0;
  return sum;
}

function rosterOf(all: NodeParts): string {
  return rosterJson([...all].map(([id, parts]) => [id, (Object.values(parts)[0] as { i?: unknown } | undefined)?.i]));
}

/**
 * The router's state as the whole server sees it, when several nodes share a Redis. This
 * node's registries stay the truth for its own sockets; here their changes become this
 * node's parts in Redis, and what the parts of every node say together (a channel's
 * members, a user's first connection anywhere, a channel vacated everywhere) becomes the
 * frames, webhooks and hooks that follow, once per server. While Redis is away the node
 * goes on with what it knows and re-registers everything when Redis is back.
 */
export class RedisEngine extends MemoryEngine {
  private readonly inflight = new Set<Promise<unknown>>();
  /**
   * Per Pusher channel, a promise that settles once every change to it made so far is in
   * Redis (or failed), and how many are still out. A subscribe waits for its own channel's
   * changes only: waiting for all of them made each join in a burst wait for the whole
   * burst, and copying the set of every change in flight for each join grew as its square.
   */
  private readonly channelTails = new Map<string, { tail: Promise<unknown>; pending: number }>();

  private readonly node: ClusterNode;
  /** Members a presence frame lists (--presence-max-members), or -1 with presence off: larger channels are not read whole. */
  private readonly presenceList: number;

  constructor(
    config: EngineConfig,
    topics: TopicWorkers,
    events: EngineEvents,
    private readonly options: RedisEngineOptions,
    private readonly log: Logger,
  ) {
    super(config, topics, events, false);
    this.presenceList = config.presence ? config.presenceMaxMembers : -1;
    this.node = new ClusterNode(options.redis, options.redisPrefix, log, {
      up: async () => {
        await this.reregister();
        events.availability();
      },
      down: () => events.availability(),
      publication: (publication) => events.deliver(publication),
      control: (message) => events.terminate(message.app, message.userId),
      deadNode: (node) => this.removeNode(node),
      pressure: () => events.pressure(),
    }, options.pendingLimit);
    this.native.onAddressReleased = (address) => this.releaseAddressInRedis(address);
  }

  private get redis() {
    return this.node.registry;
  }

  /** Resolves once every change made so far is in Redis (or failed). */
  private async settled(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
  }

  /** Resolves once every change made so far to one Pusher channel is in Redis (or failed). */
  private async channelSettled(app: string, channel: string): Promise<void> {
    await this.channelTails.get(channelScope(app, channel))?.tail;
  }

  /** Counts `work` as in flight until it settles, and as a change of one Pusher channel when `scope` names it. */
  private track<T>(work: Promise<T>, scope?: string): Promise<T> {
    this.inflight.add(work);
    const settledWork = work.then(
      () => {},
      () => {},
    );
    void settledWork.finally(() => this.inflight.delete(work));
    if (scope !== undefined) {
      const entry = this.channelTails.get(scope) ?? { tail: Promise.resolve(), pending: 0 };
      entry.pending++;
      entry.tail = Promise.all([entry.tail, settledWork]);
      this.channelTails.set(scope, entry);
      void settledWork.then(() => {
        if (--entry.pending === 0 && this.channelTails.get(scope) === entry) this.channelTails.delete(scope);
      });
    }
    return work;
  }

  private requireRedis(): void {
    if (!this.node.redisUp) throw new ServiceUnavailable(HttpErrors.redisDown);
  }

  // ---- The engine's operations: this node's part first, then Redis ----

  override get nodeId(): string {
    return this.node.id;
  }

  override get available(): boolean {
    return this.node.redisUp;
  }

  override get congested(): boolean {
    return this.node.link.congested;
  }

  /** A node needs Redis before it can number its sockets uniquely across nodes; meanwhile `waiting` answers 503. */
  override async start(waiting: () => Promise<{ close(): Promise<void> }>): Promise<void> {
    const listener = await waiting();
    try {
      await this.node.start();
    } finally {
      await listener.close();
    }
  }

  /**
   * A node that stops takes its own members out at once (the others need not wait for its
   * heartbeat to lapse), then closes its Redis connections.
   */
  override async stop(): Promise<void> {
    try {
      await this.settled();
      if (this.node.redisUp) {
        await this.removeNode(this.node.id);
        await this.redis.forget(this.node.id);
      }
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, 'could not take this node out of Redis: the others will when its heartbeat lapses');
    }
    await this.node.stop();
  }

  override takeFds(count: number): { first: number; count: number } | undefined {
    return this.node.takeFds(count);
  }

  override publishAcross(publication: Publication): void {
    this.node.link.publish(publication);
  }

  /** Redis confirms the subscription before the answer that made it goes: a publication made elsewhere after it reaches the new member. */
  override nodeInterest(topic: string, held: boolean): Promise<void> | undefined {
    if (held) return this.node.link.subscribe(topic);
    this.node.link.unsubscribe(topic);
    return undefined;
  }

  override stats(): EngineStats {
    return { ...super.stats(), node: this.node.id, nodes: this.node.nodes, redis: this.node.redisUp ? 'up' : 'down', cluster: { ...this.node.link.counters, ...this.node.counters } };
  }

  override join(_worker: number, fd: number, channel: string): null | Promise<null> {
    const result = this.native.join(fd, channel);
    if (!result) return null;
    const userId = this.native.userIdOf(fd);
    return (async () => {
      if (result.left) await this.leftInRedis(result.left);
      await this.joinedInRedis(result.joined, userId);
      return null;
    })();
  }

  override leave(_worker: number, fd: number): null | Promise<null> {
    const change = this.native.leave(fd);
    return change ? this.leftInRedis(change).then(() => null) : null;
  }

  /** A close or a dead worker: with several nodes the change goes to Redis whether or not a worker is left here. */
  protected override left(change: MembershipChange): void {
    void this.leftInRedis(change);
  }

  override assoc(worker: number, fd: number, userId: string | number): null {
    super.assoc(worker, fd, userId);
    const channel = this.native.channelOf(fd);
    if (channel !== null) this.assocInRedis(fd, channel, userId);
    return null;
  }

  override pusherOpen(worker: number, fd: number, app: string, maxConnections: number): boolean | Promise<boolean> {
    if (maxConnections === 0) return this.pusher.open(fd, worker, app, 0);
    // Counted here at once, so that what the socket asks next finds it; the whole server's count decides.
    this.pusher.open(fd, worker, app, 0);
    return this.admitPusherConnection(app, maxConnections).then((admitted) => {
      if (!admitted) this.pusher.close(fd, true);
      return admitted;
    });
  }

  override async pusherJoin(_worker: number, fd: number, channel: string, member: PresenceMember | undefined, maxMembers: number): Promise<PusherJoinResult> {
    const app = this.pusher.appOf(fd);
    if (app === undefined) return { ok: true };
    if (member && (await this.presenceFull(app, channel, member.id, maxMembers))) return { ok: false, reason: 'full' };
    const local = this.pusher.join(fd, channel, member, maxMembers);
    if (!local.ok) return local;
    const { presence, cached } = await this.joinExtras(app, channel, { ...(local.roster ? { presence: local.roster.json } : {}), ...(local.cached !== undefined ? { cached: local.cached } : {}) });
    return { ok: true, ...(presence !== undefined ? { roster: { key: rosterKey(app, channel), json: presence } } : {}), ...(cached !== undefined ? { cached } : {}) };
  }

  override pusherLeave(_worker: number, fd: number, channel: string): null | Promise<null> {
    const app = this.pusher.appOf(fd);
    this.pusher.leave(fd, channel);
    return app !== undefined ? this.channelSettled(app, channel).then(() => null) : null;
  }

  /** The other nodes' subscribers find it once Redis has it; the answer does not wait for that (Redis may be away). */
  override pusherRemember(worker: number, app: string, channel: string, frame: string): null {
    super.pusherRemember(worker, app, channel, frame);
    this.rememberInRedis(app, channel, frame);
    return null;
  }

  override pusherChannels(_worker: number, app: string, prefix: string, userCount: boolean): Promise<Record<string, { user_count?: number }>> {
    return this.redisChannels(app, prefix, userCount);
  }

  override pusherChannel(_worker: number, app: string, channel: string): Promise<ChannelStats> {
    return this.redisChannel(app, channel);
  }

  override pusherUsers(_worker: number, app: string, channel: string): Promise<string[]> {
    return this.redisUsers(app, channel);
  }

  override pusherTerminate(worker: number, app: string, userId: string): null {
    super.pusherTerminate(worker, app, userId);
    this.node.link.control({ op: 'pusher-terminate', app, userId });
    return null;
  }

  /** This node got its first member of a group, or lost its last: the group's own life is the whole server's. */
  protected override groupChanged(change: GroupChange): void {
    this.groupInRedis(change.topic, change.created, change.worker);
  }

  // ---- Native channels ----

  /** A socket of this node joined `change.channel`: the presence frame carries every node's members. */
  private joinedInRedis(change: MembershipChange, userId: string | number | undefined): Promise<void> {
    return this.track(
      this.redis.set(this.redis.nativeKey(change.channel), String(change.fd), userId ?? false, this.presenceList).then(
        ({ transition, size, all }) => {
          if (transition === 1 && size === 1) this.events.hook({ hook: 'channelOccupied', channel: change.channel, protocol: 'native' });
          this.events.membership('joined', { ...change, snapshot: snapshotOf(all, size) });
        },
        () => this.events.membership('joined', change),
      ),
    );
  }

  private leftInRedis(change: MembershipChange): Promise<void> {
    const key = this.redis.nativeKey(change.channel);
    const work = this.track(
      this.redis.set(key, String(change.fd), undefined, this.presenceList).then(
        ({ transition, size, all }) => {
          if (transition === -1) this.events.membership('left', { ...change, snapshot: snapshotOf(all, size) });
          if (transition === -1 && size === 0) this.events.hook({ hook: 'channelVacated', channel: change.channel, protocol: 'native' });
        },
        () => this.events.membership('left', change),
      ),
    );
    if (!this.native.hasMembers(change.channel)) this.redis.unindex(key);
    return work;
  }

  private assocInRedis(fd: number, channel: string, userId: string | number): void {
    void this.track(this.redis.set(this.redis.nativeKey(channel), String(fd), userId)).catch(() => {});
  }

  override async hasMembers(_worker: number, channel: string): Promise<boolean> {
    this.requireRedis();
    return this.native.hasMembers(channel) || (await this.redis.size(this.redis.nativeKey(channel))) > 0;
  }

  // ---- WebSocket apps' groups ----

  /** This node got its first member of a group, or lost its last: the group's own life is the whole server's. */
  private groupInRedis(topic: string, held: boolean, worker: number): void {
    const key = this.redis.groupKey(topic);
    void this.track(this.redis.set(key, this.node.id, held ? 1 : undefined))
      .then(({ transition, size }) => {
        if (transition === 1 && size === 1) this.events.hook({ hook: 'groupCreated', topic, worker });
        if (transition === -1 && size === 0) this.events.hook({ hook: 'groupDestroyed', topic, worker });
      })
      .catch(() => {});
    if (!held) this.redis.unindex(key);
  }

  // ---- Temporary tokens ----

  override async mintToken(worker: number, channel?: string): Promise<{ token: string } | { retryAfter: number }> {
    const minted = await super.mintToken(worker, channel);
    if (!('token' in minted)) return minted;
    this.requireRedis();
    await this.redis.putToken(minted.token, channel ?? null, this.config.tempTokenTtl);
    return minted;
  }

  override async admitToken(_worker: number, token: string): Promise<boolean> {
    this.requireRedis();
    return this.redis.admitToken(token);
  }

  override async consumeToken(_worker: number, token: string, channel: string): Promise<boolean> {
    this.requireRedis();
    return this.redis.consumeToken(token, channel);
  }

  // ---- Connections per address ----

  /** Counted across nodes while Redis is there, on this node alone while it is away. */
  override async admitAddress(_worker: number, address: string, limit: number): Promise<boolean> {
    if (!this.native.admitAddress(address, limit)) return false;
    if (!this.node.redisUp) return true;
    const admitted = await this.redis.admit(this.redis.addressKey(address), limit).catch(() => true);
    if (!admitted) this.native.releaseAddress(address, true);
    return admitted;
  }

  private releaseAddressInRedis(address: string): void {
    const key = this.redis.addressKey(address);
    void this.track(this.redis.release(key)).catch(() => {});
    if (!this.native.addressCounts().has(address)) this.redis.unindex(key);
  }

  // ---- Pusher ----

  private async admitPusherConnection(app: string, max: number): Promise<boolean> {
    if (!this.node.redisUp) return true;
    return this.redis.admit(this.redis.pusherConnectionsKey(app), max).catch(() => true);
  }

  private pusherClosed(app: string): void {
    void this.track(this.redis.release(this.redis.pusherConnectionsKey(app))).catch(() => {});
  }

  /**
   * What this node's Pusher registry changed: this node's part goes to Redis, and what it means
   * for the whole server (first subscriber anywhere, a user's first connection anywhere) decides
   * the events. The registry's own occupied, vacated, member and cache-miss webhooks are this
   * node's view only: they are not sent.
   */
  protected override pusherChanged(change: PusherChange): void {
    switch (change.kind) {
      case 'count':
        return this.pusherCount(change.app, change.channel, change.count, change.worker);
      case 'member-added':
        return this.pusherMember(change.app, change.channel, change.member.id, change.member, change.fd);
      case 'member-removed':
        return this.pusherMember(change.app, change.channel, change.userId, undefined, 0);
      case 'closed':
        if (this.options.countsConnections(change.app)) this.pusherClosed(change.app);
        return;
      case 'webhook':
        return;
    }
  }

  /** This node's subscription count of a channel changed: occupied and vacated are the whole server's. */
  private pusherCount(app: string, channel: string, count: number, worker: number | undefined): void {
    void this.track(this.redis.set(this.redis.pusherChannelsKey(app), channel, count > 0 ? count : undefined), channelScope(app, channel))
      .then(({ transition }) => {
        if (transition === 0) return;
        const name = transition === 1 ? 'channel_occupied' : 'channel_vacated';
        this.events.webhook(app, { name, channel });
        if (worker !== undefined) this.events.hook({ hook: transition === 1 ? 'channelOccupied' : 'channelVacated', channel, protocol: 'pusher', app });
      })
      .catch(() => {});
  }

  /** A user's first (member given) or last connection on this node in a presence channel. */
  private pusherMember(app: string, channel: string, userId: string, member: PresenceMember | undefined, fd: number): void {
    const key = this.redis.pusherUsersKey(app, channel);
    void this.track(this.redis.set(key, userId, member ? { i: member.info ?? null } : undefined), channelScope(app, channel))
      .then(({ transition }) => {
        if (transition === 1 && member) this.memberAdded(app, channel, fd, member);
        if (transition === -1) this.memberRemoved(app, channel, userId);
      })
      .catch(() => {});
    if (!member && !this.pusher.hasPresenceUsers(app, channel)) this.redis.unindex(key);
  }

  private memberAdded(app: string, channel: string, fd: number, member: PresenceMember): void {
    this.events.memberAdded(app, channel, member, fd);
    this.events.webhook(app, { name: 'member_added', channel, user_id: member.id });
  }

  private memberRemoved(app: string, channel: string, userId: string): void {
    this.events.memberRemoved(app, channel, userId);
    this.events.webhook(app, { name: 'member_removed', channel, user_id: userId });
  }

  /** True when a presence channel holds `max` users of the whole server and `userId` is not one of them. */
  private async presenceFull(app: string, channel: string, userId: string, max: number): Promise<boolean> {
    if (!this.node.redisUp) return false;
    const key = this.redis.pusherUsersKey(app, channel);
    const [size, part] = await Promise.all([this.redis.size(key), this.redis.part(key, userId)]).catch(() => [0, undefined] as const);
    return part === undefined && size >= max;
  }

  /** The roster and cached event a new subscriber gets, once this node's changes to the channel are in Redis. */
  private async joinExtras(app: string, channel: string, fallback: { presence?: string; cached?: string | null }): Promise<{ presence?: string; cached?: string | null }> {
    await this.channelSettled(app, channel);
    if (!this.node.redisUp) return fallback;
    const type = channelType(channel);
    try {
      const out: { presence?: string; cached?: string | null } = {};
      if (type.kind === 'presence') out.presence = rosterOf(await this.redis.all(this.redis.pusherUsersKey(app, channel)));
      if (type.cache) {
        out.cached = await this.redis.cached(app, channel);
        if (out.cached === null) this.events.webhook(app, { name: 'cache_miss', channel });
      }
      return out;
    } catch {
      return fallback;
    }
  }

  private rememberInRedis(app: string, channel: string, frame: string): void {
    void this.track(this.redis.remember(app, channel, frame, CACHE_TTL_MS), channelScope(app, channel)).catch(() => {});
  }

  private async redisChannels(app: string, prefix: string, userCount: boolean): Promise<Record<string, { user_count?: number }>> {
    this.requireRedis();
    const names = (await this.redis.fields(this.redis.pusherChannelsKey(app))).filter((name) => name.startsWith(prefix));
    const out: Record<string, { user_count?: number }> = {};
    await Promise.all(
      names.map(async (name) => {
        out[name] = userCount && channelType(name).kind === 'presence' ? { user_count: await this.redis.size(this.redis.pusherUsersKey(app, name)) } : {};
      }),
    );
    return out;
  }

  private async redisChannel(app: string, channel: string): Promise<ChannelStats> {
    this.requireRedis();
    const count = countOf(await this.redis.part(this.redis.pusherChannelsKey(app), channel));
    const presence = channelType(channel).kind === 'presence';
    return {
      occupied: count > 0,
      subscription_count: count,
      ...(presence ? { user_count: await this.redis.size(this.redis.pusherUsersKey(app, channel)) } : {}),
    };
  }

  private async redisUsers(app: string, channel: string): Promise<string[]> {
    this.requireRedis();
    return this.redis.fields(this.redis.pusherUsersKey(app, channel));
  }

  // ---- History ----

  /**
   * Numbers, keeps and publishes a channel frame in one Redis script: every node, this one
   * too, delivers it when it comes back on the bus, so all members see one order. While Redis
   * is away the frame still reaches this node's members, unnumbered.
   */
  private async sequence(publication: Publication): Promise<number> {
    const { history, historyTtl } = this.config;
    const { frame, ...rest } = publication;
    const open = openFrame(frame, publication.ackId);
    try {
      this.requireRedis();
      const restText = JSON.stringify(rest);
      const appended = this.node.link.carry(open.length + restText.length, () => this.redis.historyAppend(publication.topic, open, restText, history, historyTtl * 1000, newEpoch()));
      if (!appended) throw new ServiceUnavailable(HttpErrors.redisBusy);
      return await appended;
    } catch (error) {
      // It reaches this node's members only: for the others it failed, as an unnumbered one would.
      this.node.link.counters.failed++;
      this.events.deliver(publication);
      throw error;
    }
  }

  /**
   * What a recovering joiner gets: the kept frames and the latest seq. When this node has
   * members, the read publishes a marker in the same step; once it is back, every frame up to
   * that seq has been delivered here, and later ones wait on the link until the answer is
   * queued towards the worker (the caller queues it as the promise settles, in a microtask;
   * the held frames go after, in the next turn): the replay and the live frames meet without
   * a gap or a duplicate.
   */
  override async historyReplay(_worker: number, request: ReplayRequest): Promise<Replay> {
    this.requireRedis();
    const topic = channelTopic(request.channel);
    const ttlMs = this.config.historyTtl * 1000;
    const marker = this.node.link.holds(topic) ? this.node.link.marker(topic, 2000) : undefined;
    try {
      const read = await this.redis.historyRead(topic, newEpoch(), ttlMs, request, marker?.text);
      await marker?.arrived;
      // Redis read one part at most: the frames after it, numbered without a gap, are the rest.
      const { maxBytes: _part, ...whole } = request;
      const replay = pickReplay(whole, read.epoch, read.seq, read.frames);
      const last = read.frames.at(-1);
      return read.more && last ? { ...replay, next: last.seq, total: read.seq - read.frames[0]!.seq + 1 } : replay;
    } finally {
      if (marker) setImmediate(() => marker.release());
    }
  }

  override historyPublish(_worker: number, channel: string, frame: string, ackId?: string, except?: number): Promise<number> {
    return this.sequence({ topic: channelTopic(channel), frame, ...(ackId !== undefined ? { ackId } : {}), ...(except !== undefined ? { except } : {}) });
  }

  // ---- Nodes ----

  /**
   * Redis is back, perhaps empty: this node's parts are written again, exactly as it holds
   * them now, and its parts in keys it no longer holds anything of (changes that failed while
   * Redis was away) are taken out.
   */
  private async reregister(): Promise<void> {
    const redis = this.redis;
    const parts = new Map<string, Record<string, unknown>>();
    const counts = new Map<string, number>();
    for (const channel of this.native.channelNames()) {
      const want: Record<string, NativePart> = {};
      const snapshot = this.native.snapshot(channel);
      for (const fd of snapshot.fds) want[fd] = snapshot.userIds[fd] ?? false;
      parts.set(redis.nativeKey(channel), want);
    }
    for (const [app, held] of this.pusher.nodeState()) {
      const subscriptions: Record<string, number> = {};
      for (const [channel, entry] of held.channels) {
        subscriptions[channel] = entry.count;
        if (entry.users.size === 0) continue;
        const users: Record<string, { i: unknown }> = {};
        for (const [id, info] of entry.users) users[id] = { i: info ?? null };
        parts.set(redis.pusherUsersKey(app, channel), users);
      }
      parts.set(redis.pusherChannelsKey(app), subscriptions);
      if (this.options.countsConnections(app)) counts.set(redis.pusherConnectionsKey(app), held.connections);
    }
    for (const topic of this.groups.topics()) parts.set(redis.groupKey(topic), { [this.node.id]: 1 });
    for (const [address, count] of this.native.addressCounts()) counts.set(redis.addressKey(address), count);
    // What Redis still lists as this node's (nothing, when it lost its data) and it no longer holds.
    for (const key of await redis.keysOf(this.node.id)) {
      if (parts.has(key) || counts.has(key)) continue;
      if (redis.kindOf(key).kind === 'counts') counts.set(key, 0);
      else parts.set(key, {});
    }
    const work: Promise<unknown>[] = [];
    for (const [key, want] of parts) {
      work.push(redis.replace(key, want));
      if (Object.keys(want).length === 0) redis.unindex(key);
    }
    for (const [key, count] of counts) {
      work.push(redis.setCount(key, count));
      if (count === 0) redis.unindex(key);
    }
    const results = await Promise.allSettled(work);
    const failed = results.filter((r) => r.status === 'rejected').length;
    if (failed > 0) throw new Error(`${failed} of ${results.length} keys could not be written`);
    this.log.info({ keys: results.length }, 're-registered this node\'s sockets, channels and members with Redis');
  }

  /** Takes a dead node's parts out of every key it had one in, with the frames and webhooks that follow. */
  private async removeNode(node: string): Promise<void> {
    const redis = this.redis;
    for (const key of await redis.keysOf(node)) {
      const kind = redis.kindOf(key);
      if (kind.kind === 'counts') {
        await redis.setCount(key, 0, node);
        continue;
      }
      const { removed, all } = await redis.replace(key, {}, node);
      switch (kind.kind) {
        case 'native': {
          const snapshot = snapshotOf(all, all.size);
          for (const field of removed) this.events.membership('left', { fd: Number(field), channel: kind.channel, snapshot });
          if (removed.length > 0 && all.size === 0) this.events.hook({ hook: 'channelVacated', channel: kind.channel, protocol: 'native' });
          break;
        }
        case 'pusher-channels':
          for (const channel of removed) {
            this.events.webhook(kind.app, { name: 'channel_vacated', channel });
            this.events.hook({ hook: 'channelVacated', channel, protocol: 'pusher', app: kind.app });
          }
          break;
        case 'pusher-users':
          for (const userId of removed) this.memberRemoved(kind.app, kind.channel, userId);
          break;
        case 'group':
          if (removed.length > 0 && all.size === 0) this.events.hook({ hook: 'groupDestroyed', topic: kind.topic });
          break;
      }
    }
  }
}
