import type { Publication } from '../../bus/bus.js';
import type { ServerConfig } from '../../config.js';
import { MemoryHistory } from '../../history/memory-history.js';
import { withId, type Replay, type ReplayRequest } from '../../history/sequenced-frame.js';
import { channelTopic } from '../../topics.js';
import type { Engine, EngineEvents, EngineStats, MembershipChange, PresenceMember, PusherJoinResult } from '../engine.js';
import type { TopicWorkers } from '../topic-workers.js';
import { GroupRegistry, type GroupChange } from './group-registry.js';
import { NativeRegistry } from './native-registry.js';
import { PusherRegistry, type PusherChange } from './pusher-registry.js';

/** The engine options it reads: tokens, history and the presence list. */
export type EngineConfig = Pick<ServerConfig, 'tempTokenTtl' | 'tempTokenMax' | 'history' | 'historyTtl' | 'historyMaxBytes' | 'presence' | 'presenceMaxMembers'>;

/**
 * The whole server's state in the primary's memory: one machine. Each operation changes the
 * registries and reports what it means, once, through the events. The Redis engine extends
 * it: there this state is the node's own part, and each operation goes to Redis too.
 */
export class MemoryEngine implements Engine {
  protected readonly native: NativeRegistry;
  protected readonly pusher: PusherRegistry;
  protected readonly groups: GroupRegistry;
  private readonly history: MemoryHistory | undefined;
  private nextFd = 1;

  constructor(
    protected readonly config: EngineConfig,
    /** Which workers hold which topics, native and Pusher alike (the registries count into it). */
    protected readonly topics: TopicWorkers,
    protected readonly events: EngineEvents,
    /** Kept in memory only alone: with several nodes history lives in Redis. */
    keepsHistory = true,
  ) {
    this.native = new NativeRegistry(topics);
    this.pusher = new PusherRegistry(topics, (change) => this.pusherChanged(change));
    this.groups = new GroupRegistry(topics, (change) => this.groupChanged(change));
    if (config.history > 0 && keepsHistory) this.history = new MemoryHistory(config.history, config.historyTtl * 1000, (channel) => this.native.hasMembers(channel), Date.now, config.historyMaxBytes);
  }

  get nodeId(): string | undefined {
    return undefined;
  }

  get available(): boolean {
    return true;
  }

  get congested(): boolean {
    return false;
  }

  async start(_waiting: () => Promise<{ close(): Promise<void> }>): Promise<void> {}

  async stop(): Promise<void> {}

  // ---- Sockets ----

  open(worker: number, fd: number, address?: string, native = true, pusherApp?: string): void {
    this.native.open(fd, worker, address, native);
    // With no quota there is nothing to decide: the count is kept as pusherOpen would.
    if (pusherApp !== undefined) this.pusher.open(fd, worker, pusherApp, 0);
  }

  close(worker: number, fd: number): void {
    const change = this.native.close(fd);
    if (change) this.left(change, worker);
    this.pusher.close(fd);
    this.groups.close(fd);
  }

  dropWorker(worker: number): void {
    // The dead worker cannot run a vacated hook: any live one does.
    for (const change of this.native.dropWorker(worker)) this.left(change, undefined);
    this.pusher.dropWorker(worker);
    this.groups.dropWorker(worker);
  }

  admitAddress(_worker: number, address: string, limit: number): boolean | Promise<boolean> {
    return this.native.admitAddress(address, limit);
  }

  releaseAddress(_worker: number, address: string): void {
    this.native.releaseAddress(address);
  }

  takeFds(count: number): { first: number; count: number } | undefined {
    const first = this.nextFd;
    this.nextFd += count;
    return { first, count };
  }

  // ---- Native channels ----

  join(worker: number, fd: number, channel: string): null | Promise<null> {
    const result = this.native.join(fd, channel);
    if (!result) return null;
    if (result.left) this.left(result.left, worker);
    this.joined(result.joined, worker);
    return null;
  }

  leave(worker: number, fd: number): null | Promise<null> {
    const change = this.native.leave(fd);
    if (change) this.left(change, worker);
    return null;
  }

  assoc(_worker: number, fd: number, userId: string | number): null {
    this.native.assoc(fd, userId);
    return null;
  }

  hasMembers(_worker: number, channel: string): boolean | Promise<boolean> {
    return this.native.hasMembers(channel);
  }

  /** A socket joined a native channel: presence, and the occupied hook when it is the first. */
  protected joined(change: MembershipChange, worker: number): void {
    this.events.membership('joined', change);
    if (change.snapshot.fds.length === 1) this.events.hook({ hook: 'channelOccupied', channel: change.channel, protocol: 'native', worker });
  }

  /** A socket left a native channel: presence, and the vacated hook when it was the last. */
  protected left(change: MembershipChange, worker: number | undefined): void {
    this.events.membership('left', change);
    if (change.snapshot.fds.length === 0) this.events.hook({ hook: 'channelVacated', channel: change.channel, protocol: 'native', ...(worker !== undefined ? { worker } : {}) });
  }

  // ---- Temporary tokens ----

  mintToken(_worker: number, channel?: string): { token: string } | { retryAfter: number } | Promise<{ token: string } | { retryAfter: number }> {
    return this.native.mintToken(channel ?? null, this.config.tempTokenTtl * 1000, this.config.tempTokenMax);
  }

  admitToken(_worker: number, token: string): boolean | Promise<boolean> {
    return this.native.admitToken(token);
  }

  consumeToken(_worker: number, token: string, channel: string): boolean | Promise<boolean> {
    return this.native.consumeToken(token, channel);
  }

  // ---- Pusher ----

  pusherOpen(worker: number, fd: number, app: string, maxConnections: number): boolean | Promise<boolean> {
    return this.pusher.open(fd, worker, app, maxConnections);
  }

  pusherJoin(_worker: number, fd: number, channel: string, member: PresenceMember | undefined, maxMembers: number): PusherJoinResult | Promise<PusherJoinResult> {
    return this.pusher.join(fd, channel, member, maxMembers);
  }

  pusherLeave(_worker: number, fd: number, channel: string): null | Promise<null> {
    this.pusher.leave(fd, channel);
    return null;
  }

  pusherSignin(_worker: number, fd: number, userId: string): null {
    this.pusher.signin(fd, userId);
    return null;
  }

  pusherRemember(_worker: number, app: string, channel: string, frame: string): null | Promise<null> {
    this.pusher.remember(app, channel, frame);
    return null;
  }

  pusherChannels(_worker: number, app: string, prefix: string, userCount: boolean): Record<string, { user_count?: number }> | Promise<Record<string, { user_count?: number }>> {
    return this.pusher.channels(app, prefix, userCount);
  }

  pusherChannel(_worker: number, app: string, channel: string): ReturnType<PusherRegistry['channel']> | Promise<ReturnType<PusherRegistry['channel']>> {
    return this.pusher.channel(app, channel);
  }

  pusherUsers(_worker: number, app: string, channel: string): string[] | Promise<string[]> {
    return this.pusher.userIds(app, channel);
  }

  pusherTerminate(_worker: number, app: string, userId: string): null {
    this.events.terminate(app, userId);
    return null;
  }

  /** Member events go to the channel's other subscribers; the rest to the app's webhooks and hooks. */
  protected pusherChanged(change: PusherChange): void {
    switch (change.kind) {
      case 'count':
      case 'closed':
        return;
      case 'webhook':
        this.events.webhook(change.app, change.event);
        if (change.worker !== undefined && (change.event.name === 'channel_occupied' || change.event.name === 'channel_vacated')) {
          const hook = change.event.name === 'channel_occupied' ? 'channelOccupied' : 'channelVacated';
          this.events.hook({ hook, channel: change.event.channel, protocol: 'pusher', app: change.app, worker: change.worker });
        }
        return;
      case 'member-added':
        return this.events.memberAdded(change.app, change.channel, change.member, change.fd);
      case 'member-removed':
        return this.events.memberRemoved(change.app, change.channel, change.userId);
    }
  }

  // ---- WebSocket apps' groups ----

  groupJoin(worker: number, fd: number, topic: string): null {
    this.groups.join(fd, worker, topic);
    return null;
  }

  groupLeave(_worker: number, fd: number, topic: string): null {
    this.groups.leave(fd, topic);
    return null;
  }

  protected groupChanged(change: GroupChange): void {
    this.events.hook({ hook: change.created ? 'groupCreated' : 'groupDestroyed', topic: change.topic, worker: change.worker });
  }

  // ---- History ----

  historyReplay(_worker: number, request: ReplayRequest): Replay | Promise<Replay> {
    return this.historyOn().read(request);
  }

  /**
   * Numbers a channel frame, keeps it, and delivers it to every worker with members, the one
   * it came from included: members get a channel's frames in one order, whichever worker sent them.
   */
  historyPublish(_worker: number, channel: string, frame: string, ackId?: string, except?: number): number | Promise<number> {
    const { seq, kept } = this.historyOn().append(channel, frame, ackId);
    this.events.deliver({ topic: channelTopic(channel), frame: withId(kept, ackId), seq, ...(ackId !== undefined ? { ackId } : {}), ...(except !== undefined ? { except } : {}) });
    return seq;
  }

  private historyOn(): MemoryHistory {
    if (!this.history) throw new Error('history is off (--history 0)');
    return this.history;
  }

  // ---- Across nodes: there are none ----

  publishAcross(_publication: Publication): void {}

  nodeInterest(_topic: string, _held: boolean): Promise<void> | undefined {
    return undefined;
  }

  // ---- Numbers ----

  stats(): EngineStats {
    return {
      connections: this.native.connectionCount,
      channels: this.native.channelCount,
      temporaryTokens: this.native.tokenCount,
      ...(this.history ? { history: { ...this.history.counters } } : {}),
    };
  }

  connectionsOf(worker: number): number {
    return this.native.connectionsOf(worker);
  }

  largestChannels(count: number): { channel: string; members: number; protocol: 'native' | 'pusher'; app?: string }[] {
    const largest = [
      ...this.native.largestChannels(count).map((c) => ({ ...c, protocol: 'native' as const })),
      ...this.pusher.summary(count).largest.map((c) => ({ channel: c.channel, members: c.members, protocol: 'pusher' as const, app: c.app })),
    ];
    return largest.sort((a, b) => b.members - a.members).slice(0, count);
  }

  pusherApps(): { id: string; connections: number; channels: number }[] {
    return this.pusher.summary(1).apps;
  }
}
