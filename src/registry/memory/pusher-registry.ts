import type { WebhookEvent } from '../../apps/apps.js';
import { channelType } from '../../channel-types.js';
import type { ChannelStats, PresenceMember, PusherJoinResult, Roster } from '../engine.js';
import { topBy } from './native-registry.js';
import type { TopicWorkers } from '../topic-workers.js';
import { pusherTopic, userTopic } from '../../topics.js';

export interface PresenceRoster {
  count: number;
  ids: string[];
  hash: Record<string, unknown>;
}

/** Something the server tells an app's webhooks, or the members of a presence channel. */
export type PusherChange =
  /** `worker` is where the socket that caused it lives (none for a cache miss of an HTTP publish). */
  | { kind: 'webhook'; app: string; event: { name: WebhookEvent; channel: string; user_id?: string }; worker?: number }
  | { kind: 'member-added'; app: string; channel: string; fd: number; member: PresenceMember }
  | { kind: 'member-removed'; app: string; channel: string; userId: string }
  /** A channel's subscriptions on this node changed (what several nodes add up). */
  | { kind: 'count'; app: string; channel: string; count: number; worker: number }
  /** A connection of `app` closed. */
  | { kind: 'closed'; app: string };

/** What this node holds of one app: connections, and per channel its subscriptions and presence users. */
export interface PusherNodeState {
  connections: number;
  channels: Map<string, { count: number; users: Map<string, unknown> }>;
}

interface ChannelState {
  fds: Set<number>;
  /** Presence channels: each user's info and its connections in the channel. */
  users: Map<string, { info: unknown; fds: Set<number> }>;
  /** The roster's JSON, until the members change. */
  roster?: string | undefined;
}

interface SocketState {
  app: string;
  worker: number;
  /** Channel → the member this connection subscribed as (presence channels); made at the first subscription. */
  channels: Map<string, PresenceMember | undefined> | undefined;
  user: string | undefined;
}

/**
 * A connection with no channel and no user is held as one small integer, its worker and its
 * app's number (`worker * APP_SLOTS + app`): V8 keeps it in the map itself, where a state
 * object (and the app id copied out of each IPC message) would cost every connection.
 * It becomes a SocketState at its first subscription or signin.
 */
type Socket = number | SocketState;
const APP_SLOTS = 4096;

/** Bytes of cache channels' last events kept in all: past it the least recently written go first. */
export const CACHE_MAX_BYTES = 64 * 1024 * 1024;
/** How long a cache channel keeps its last event (Pusher: 30 minutes). */
export const CACHE_TTL_MS = 30 * 60 * 1000;

/**
 * The Pusher side of the server's global state, per app: channel subscriptions, presence
 * rosters per user, signed-in users, connection counts and cache channels' last events.
 * Lives in the primary (a Redis implementation can take the same operations); reports
 * what changed so the caller sends member events and webhooks.
 */
export class PusherRegistry {
  private readonly apps = new Map<string, Map<string, ChannelState>>();
  private readonly sockets = new Map<number, Socket>();
  /** App ids by number (see Socket), each id kept once. */
  private readonly appIds: string[] = [];
  private readonly appNumbers = new Map<string, number>();
  private readonly connections = new Map<string, number>();
  private readonly users = new Map<string, Map<string, Set<number>>>();
  /** Cache channels' last events, least recently written first (a write moves one to the end). */
  private readonly cache = new Map<string, { frame: string; expiresAt: number }>();
  private cacheBytes = 0;
  /** Cached events taken out to stay under CACHE_MAX_BYTES before their 30 minutes were up. */
  cacheEvicted = 0;

  constructor(
    /** Channel and user topics are counted here, so the router knows where to send them. */
    private readonly topicWorkers: TopicWorkers,
    private readonly onChange: (change: PusherChange) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** A connection of `app` opened; false (and not counted) when the app is at `max` (0 = no limit). */
  open(fd: number, worker: number, app: string, max: number): boolean {
    const count = this.connections.get(app) ?? 0;
    if (max > 0 && count >= max) return false;
    this.connections.set(app, count + 1);
    const number = this.appNumber(app);
    this.sockets.set(fd, number < APP_SLOTS && Number.isSafeInteger(worker) && worker >= 0 && worker < 2 ** 18 ? worker * APP_SLOTS + number : { app: this.appIds[number]!, worker, channels: undefined, user: undefined });
    return true;
  }

  private appNumber(app: string): number {
    let number = this.appNumbers.get(app);
    if (number === undefined) {
      number = this.appIds.push(app) - 1;
      this.appNumbers.set(app, number);
    }
    return number;
  }

  private stateOf(socket: Socket): SocketState {
    return typeof socket === 'number' ? { app: this.appIds[socket % APP_SLOTS]!, worker: Math.floor(socket / APP_SLOTS), channels: undefined, user: undefined } : socket;
  }

  /** The state of a connection, made now if it had none. */
  private state(fd: number): SocketState | undefined {
    const socket = this.sockets.get(fd);
    if (typeof socket !== 'number') return socket;
    const state = this.stateOf(socket);
    this.sockets.set(fd, state);
    return state;
  }

  /** Whether a presence channel has users on this registry's connections. */
  hasPresenceUsers(app: string, channel: string): boolean {
    return (this.apps.get(app)?.get(channel)?.users.size ?? 0) > 0;
  }

  appOf(fd: number): string | undefined {
    const socket = this.sockets.get(fd);
    return socket === undefined ? undefined : typeof socket === 'number' ? this.appIds[socket % APP_SLOTS] : socket.app;
  }

  /** A connection closed: it leaves every channel it was in. `quiet`: it was never admitted, say nothing. */
  close(fd: number, quiet = false): void {
    const held = this.sockets.get(fd);
    if (held === undefined) return;
    const socket = this.stateOf(held);
    for (const channel of [...(socket.channels?.keys() ?? [])]) this.leave(fd, channel);
    if (socket.user !== undefined) this.forgetUser(fd, socket);
    this.sockets.delete(fd);
    if (!quiet) this.onChange({ kind: 'closed', app: socket.app });
    const count = (this.connections.get(socket.app) ?? 1) - 1;
    if (count > 0) this.connections.set(socket.app, count);
    else this.connections.delete(socket.app);
  }

  /** Every connection of a worker that died. */
  dropWorker(worker: number): void {
    for (const [fd, socket] of this.sockets) if ((typeof socket === 'number' ? Math.floor(socket / APP_SLOTS) : socket.worker) === worker) this.close(fd);
  }

  join(fd: number, channel: string, member: PresenceMember | undefined, maxMembers: number): PusherJoinResult {
    const socket = this.state(fd);
    if (!socket) return { ok: true };
    let channels = this.apps.get(socket.app);
    if (!channels) this.apps.set(socket.app, (channels = new Map()));
    let state = channels.get(channel);
    if (member) {
      const users = state?.users;
      if (!users?.has(member.id) && (users?.size ?? 0) >= maxMembers) return { ok: false, reason: 'full' };
    }
    if (socket.channels?.has(channel)) return { ok: true, ...this.extras(socket.app, channel, state) };
    if (!state) {
      channels.set(channel, (state = { fds: new Set(), users: new Map() }));
      this.onChange({ kind: 'webhook', app: socket.app, event: { name: 'channel_occupied', channel }, worker: socket.worker });
    }
    state.fds.add(fd);
    this.onChange({ kind: 'count', app: socket.app, channel, count: state.fds.size, worker: socket.worker });
    (socket.channels ??= new Map()).set(channel, member);
    this.topicWorkers.count(pusherTopic(socket.app, channel), socket.worker, 1);
    if (member) {
      let user = state.users.get(member.id);
      if (!user) {
        state.users.set(member.id, (user = { info: member.info, fds: new Set() }));
        state.roster = undefined;
        this.onChange({ kind: 'member-added', app: socket.app, channel, fd, member });
        this.onChange({ kind: 'webhook', app: socket.app, event: { name: 'member_added', channel, user_id: member.id } });
      }
      user.fds.add(fd);
    }
    return { ok: true, ...this.extras(socket.app, channel, state) };
  }

  leave(fd: number, channel: string): void {
    const socket = this.sockets.get(fd);
    if (typeof socket !== 'object' || !socket.channels?.has(channel)) return;
    const member = socket.channels.get(channel);
    socket.channels.delete(channel);
    const channels = this.apps.get(socket.app);
    const state = channels?.get(channel);
    if (!channels || !state) return;
    state.fds.delete(fd);
    this.onChange({ kind: 'count', app: socket.app, channel, count: state.fds.size, worker: socket.worker });
    this.topicWorkers.count(pusherTopic(socket.app, channel), socket.worker, -1);
    if (member) {
      const user = state.users.get(member.id);
      user?.fds.delete(fd);
      if (user && user.fds.size === 0) {
        state.users.delete(member.id);
        state.roster = undefined;
        this.onChange({ kind: 'member-removed', app: socket.app, channel, userId: member.id });
        this.onChange({ kind: 'webhook', app: socket.app, event: { name: 'member_removed', channel, user_id: member.id } });
      }
    }
    if (state.fds.size === 0) {
      channels.delete(channel);
      this.onChange({ kind: 'webhook', app: socket.app, event: { name: 'channel_vacated', channel }, worker: socket.worker });
    }
  }

  signin(fd: number, userId: string): void {
    const socket = this.state(fd);
    if (!socket) return;
    if (socket.user !== undefined) this.forgetUser(fd, socket);
    socket.user = userId;
    this.topicWorkers.count(userTopic(socket.app, userId), socket.worker, 1);
    let users = this.users.get(socket.app);
    if (!users) this.users.set(socket.app, (users = new Map()));
    let fds = users.get(userId);
    if (!fds) users.set(userId, (fds = new Set()));
    fds.add(fd);
  }

  private forgetUser(fd: number, socket: SocketState): void {
    const users = this.users.get(socket.app);
    const fds = users?.get(socket.user!);
    fds?.delete(fd);
    if (fds?.size === 0) users!.delete(socket.user!);
    this.topicWorkers.count(userTopic(socket.app, socket.user!), socket.worker, -1);
    socket.user = undefined;
  }

  /** Keeps the last event of a cache channel for new subscribers. */
  remember(app: string, channel: string, frame: string): void {
    const key = `${app}\n${channel}`;
    this.forget(key);
    this.cache.set(key, { frame, expiresAt: this.now() + CACHE_TTL_MS });
    this.cacheBytes += key.length + frame.length;
    for (const [oldest] of this.cache) {
      if (this.cacheBytes <= CACHE_MAX_BYTES || oldest === key) break;
      this.forget(oldest);
      this.cacheEvicted++;
    }
    this.sweepCache();
  }

  private forget(key: string): void {
    const entry = this.cache.get(key);
    if (!entry) return;
    this.cache.delete(key);
    this.cacheBytes -= key.length + entry.frame.length;
  }

  channels(app: string, prefix: string, withUserCount: boolean): Record<string, { user_count?: number }> {
    const out: Record<string, { user_count?: number }> = {};
    for (const [name, state] of this.apps.get(app) ?? []) {
      if (!name.startsWith(prefix)) continue;
      out[name] = withUserCount && channelType(name).kind === 'presence' ? { user_count: state.users.size } : {};
    }
    return out;
  }

  channel(app: string, channel: string): ChannelStats {
    const state = this.apps.get(app)?.get(channel);
    return {
      occupied: state !== undefined,
      subscription_count: state?.fds.size ?? 0,
      ...(channelType(channel).kind === 'presence' ? { user_count: state?.users.size ?? 0 } : {}),
    };
  }

  userIds(app: string, channel: string): string[] {
    return [...(this.apps.get(app)?.get(channel)?.users.keys() ?? [])];
  }

  /** Per app: open connections and occupied channels, and the largest channels over all apps. */
  summary(count: number): { apps: { id: string; connections: number; channels: number }[]; largest: { app: string; channel: string; members: number }[] } {
    const apps = [...new Set([...this.connections.keys(), ...this.apps.keys()])].map((id) => ({ id, connections: this.connections.get(id) ?? 0, channels: this.apps.get(id)?.size ?? 0 }));
    const largest: { app: string; channel: string; members: number }[] = [];
    for (const [app, channels] of this.apps) for (const [channel, members] of topBy(channels, count, (state) => state.fds.size)) largest.push({ app, channel, members });
    return { apps, largest: largest.sort((a, b) => b.members - a.members).slice(0, count) };
  }

  /** Everything this registry holds, per app (re-registered with Redis when it comes back). */
  nodeState(): Map<string, PusherNodeState> {
    const out = new Map<string, PusherNodeState>();
    for (const [app, connections] of this.connections) out.set(app, { connections, channels: new Map() });
    for (const [app, channels] of this.apps) {
      let entry = out.get(app);
      if (!entry) out.set(app, (entry = { connections: 0, channels: new Map() }));
      for (const [name, state] of channels) {
        const users = new Map<string, unknown>();
        for (const [id, user] of state.users) users.set(id, user.info);
        entry.channels.set(name, { count: state.fds.size, users });
      }
    }
    return out;
  }

  /** Open connections of an app, across the server. */
  connectionCount(app: string): number {
    return this.connections.get(app) ?? 0;
  }

  private extras(app: string, channel: string, state: ChannelState | undefined): { roster?: Roster; cached?: string | null } {
    const type = channelType(channel);
    const out: { roster?: Roster; cached?: string | null } = {};
    if (type.kind === 'presence') {
      const users = state?.users ?? new Map<string, { info: unknown }>();
      const json = state?.roster ?? rosterJson([...users].map(([id, user]) => [id, user.info]));
      if (state) state.roster = json;
      out.roster = { key: rosterKey(app, channel), json };
    }
    if (type.cache) {
      const entry = this.cache.get(`${app}\n${channel}`);
      out.cached = entry && entry.expiresAt > this.now() ? entry.frame : null;
      if (out.cached === null) this.onChange({ kind: 'webhook', app, event: { name: 'cache_miss', channel } });
    }
    return out;
  }

  private lastSweep = 0;

  private sweepCache(): void {
    const now = this.now();
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    for (const [key, entry] of this.cache) if (entry.expiresAt <= now) this.forget(key);
  }
}

/**
 * A roster's JSON from its members in order. The hash has no prototype, so that a user id
 * such as `__proto__` is a member like any other instead of vanishing from the roster.
 */
export function rosterJson(members: Iterable<readonly [string, unknown]>): string {
  const hash = Object.create(null) as Record<string, unknown>;
  const ids: string[] = [];
  for (const [id, info] of members) {
    if (!Object.hasOwn(hash, id)) ids.push(id);
    hash[id] = info ?? null;
  }
  return JSON.stringify({ count: ids.length, ids, hash } satisfies PresenceRoster);
}

/** The name a channel's roster is shared under between the primary and a worker. */
export function rosterKey(app: string, channel: string): string {
  return `${app}\n${channel}`;
}
