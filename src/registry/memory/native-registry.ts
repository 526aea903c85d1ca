import type { MembershipChange, PresenceSnapshot } from '../engine.js';
import { newTemporaryToken } from '../../tokens.js';
import { TopicWorkers } from '../topic-workers.js';
import { ALL_TOPIC, LOBBY_TOPIC, channelTopic } from '../../topics.js';

interface SocketEntry {
  worker: number;
  /** Kept only while connections per address are limited. */
  address: string | undefined;
  channel: string | null;
  userId: string | number | undefined;
  /** Native sockets are in the native topics; Pusher ones are counted only. */
  native: boolean;
}

/**
 * An idle socket (no address kept, no channel, no user id) is held as one small integer,
 * its worker and whether it is native (`worker * 2 + native`): V8 keeps it in the map
 * itself, where an entry object would cost every connection of the server. It becomes a
 * SocketEntry when it first needs one.
 */
type Socket = number | SocketEntry;

function idle(worker: number, native: boolean): number {
  return worker * 2 + (native ? 1 : 0);
}

function entryOf(socket: Socket): SocketEntry {
  return typeof socket === 'number' ? { worker: Math.floor(socket / 2), address: undefined, channel: null, userId: undefined, native: socket % 2 === 1 } : socket;
}

interface TemporaryToken {
  channel: string | null;
  expiresAt: number;
}

/**
 * Global state of one server: which socket is where, user ids, and temporary tokens.
 * Lives in the primary; workers reach it through the router. Also counts, per topic, the
 * members each worker has, so the router forwards a topic's traffic only where it lands.
 */
export class NativeRegistry {
  private readonly sockets = new Map<number, Socket>();
  private readonly channels = new Map<string, Set<number>>();
  private readonly tokens = new Map<string, TemporaryToken>();
  private readonly workerSockets = new Map<number, number>();
  /** Open sockets plus admitted handshakes, per remote address, when that is limited. */
  private readonly addresses = new Map<string, number>();
  /** Told when an address count goes down (several nodes count addresses together). */
  onAddressReleased: ((address: string) => void) | undefined;

  constructor(
    /** Native topics are counted here, beside the other protocols' ones. */
    private readonly topicWorkers: TopicWorkers = new TopicWorkers(),
    private readonly now: () => number = Date.now,
  ) {}

  get connectionCount(): number {
    return this.sockets.size;
  }

  get channelCount(): number {
    return this.channels.size;
  }

  open(fd: number, worker: number, address?: string, native = true): void {
    if (this.sockets.has(fd)) return;
    // The admission already counted this address: the socket now holds that count.
    this.sockets.set(fd, address === undefined && Number.isSafeInteger(worker) && worker >= 0 ? idle(worker, native) : { worker, address, channel: null, userId: undefined, native });
    this.workerSockets.set(worker, (this.workerSockets.get(worker) ?? 0) + 1);
    if (!native) return;
    this.count(ALL_TOPIC, worker, 1);
    this.count(LOBBY_TOPIC, worker, 1);
  }

  /** Forgets a closed socket; returns the change to its channel, if it was in one. */
  close(fd: number): MembershipChange | undefined {
    const socket = this.sockets.get(fd);
    if (socket === undefined) return undefined;
    const entry = entryOf(socket);
    const change = this.leave(fd);
    this.sockets.delete(fd);
    if (entry.address !== undefined) this.releaseAddress(entry.address);
    const left = (this.workerSockets.get(entry.worker) ?? 1) - 1;
    if (left > 0) this.workerSockets.set(entry.worker, left);
    else this.workerSockets.delete(entry.worker);
    if (!entry.native) return change;
    this.count(ALL_TOPIC, entry.worker, -1);
    this.count(LOBBY_TOPIC, entry.worker, -1);
    return change;
  }

  /** Moves a socket into `channel`; returns the change to the channel it left, if any. */
  join(fd: number, channel: string): { left: MembershipChange | undefined; joined: MembershipChange } | undefined {
    const entry = this.entry(fd);
    if (!entry || !entry.native) return undefined;
    const left = entry.channel !== null && entry.channel !== channel ? this.leave(fd) : undefined;
    if (entry.channel === null) {
      this.count(LOBBY_TOPIC, entry.worker, -1);
      let members = this.channels.get(channel);
      if (!members) this.channels.set(channel, (members = new Set()));
      members.add(fd);
      entry.channel = channel;
      this.count(channelTopic(channel), entry.worker, 1);
    }
    return { left, joined: { fd, channel, snapshot: this.snapshot(channel) } };
  }

  /** Takes a socket out of its channel; returns the change, if it was in one. */
  leave(fd: number): MembershipChange | undefined {
    const socket = this.sockets.get(fd);
    if (socket === undefined || typeof socket === 'number') return undefined;
    const entry = socket;
    const channel = entry.channel;
    if (channel === null) return undefined;
    const members = this.channels.get(channel);
    members?.delete(fd);
    if (members && members.size === 0) this.channels.delete(channel);
    entry.channel = null;
    this.count(channelTopic(channel), entry.worker, -1);
    this.count(LOBBY_TOPIC, entry.worker, 1);
    return { fd, channel, snapshot: this.snapshot(channel) };
  }

  userIdOf(fd: number): string | number | undefined {
    const socket = this.sockets.get(fd);
    return typeof socket === 'object' ? socket.userId : undefined;
  }

  channelOf(fd: number): string | null {
    const socket = this.sockets.get(fd);
    return typeof socket === 'object' ? socket.channel : null;
  }

  assoc(fd: number, userId: string | number): void {
    const entry = this.entry(fd);
    if (entry) entry.userId = userId;
  }

  /** The entry of an open socket, made now if it was idle. */
  private entry(fd: number): SocketEntry | undefined {
    const socket = this.sockets.get(fd);
    if (typeof socket !== 'number') return socket;
    const entry = entryOf(socket);
    this.sockets.set(fd, entry);
    return entry;
  }

  /** Forgets every socket of a worker that died; returns the changes to their channels. */
  dropWorker(worker: number): MembershipChange[] {
    const changes: MembershipChange[] = [];
    for (const [fd, socket] of this.sockets) {
      if ((typeof socket === 'number' ? Math.floor(socket / 2) : socket.worker) !== worker) continue;
      const change = this.close(fd);
      if (change) changes.push(change);
    }
    return changes;
  }

  /** Open sockets owned by one worker, of both protocols. */
  connectionsOf(worker: number): number {
    return this.workerSockets.get(worker) ?? 0;
  }

  admitAddress(address: string, limit: number): boolean {
    const count = this.addresses.get(address) ?? 0;
    if (count >= limit) return false;
    this.addresses.set(address, count + 1);
    return true;
  }

  /** Given back by the socket or handshake that held it; `onReleased` hears it unless `quiet`. */
  releaseAddress(address: string, quiet = false): void {
    const count = (this.addresses.get(address) ?? 0) - 1;
    if (count > 0) this.addresses.set(address, count);
    else this.addresses.delete(address);
    if (!quiet) this.onAddressReleased?.(address);
  }

  /** The `count` channels with the most members, largest first. */
  largestChannels(count: number): { channel: string; members: number }[] {
    return topBy(this.channels, count, (members) => members.size).map(([channel, members]) => ({ channel, members }));
  }

  hasMembers(channel: string): boolean {
    return this.channels.has(channel);
  }

  channelNames(): Iterable<string> {
    return this.channels.keys();
  }

  /** Open sockets and admitted handshakes per address (while that is limited). */
  addressCounts(): ReadonlyMap<string, number> {
    return this.addresses;
  }


  snapshot(channel: string): PresenceSnapshot {
    const fds = [...(this.channels.get(channel) ?? [])];
    const userIds: Record<string, string | number> = {};
    for (const fd of fds) {
      const userId = this.userIdOf(fd);
      if (userId !== undefined) userIds[fd] = userId;
    }
    return { fds, userIds };
  }

  /** Live temporary tokens (expired ones not yet swept included). */
  get tokenCount(): number {
    return this.tokens.size;
  }

  /**
   * Mints a temporary token, unless `max` live ones exist: then the seconds until the
   * oldest expires. Tokens all live `ttlMs`, so the map's insertion order is expiry order.
   */
  mintToken(channel: string | null, ttlMs: number, max = Infinity): { token: string } | { retryAfter: number } {
    this.sweepTokens(this.tokens.size >= max);
    if (this.tokens.size >= max) {
      const oldest = this.tokens.values().next().value as TemporaryToken;
      return { retryAfter: Math.max(1, Math.ceil((oldest.expiresAt - this.now()) / 1000)) };
    }
    const token = newTemporaryToken();
    this.tokens.set(token, { channel, expiresAt: this.now() + ttlMs });
    return { token };
  }

  /**
   * Admits a handshake with a temporary token. A channel-less token admits exactly one
   * handshake; a channel token admits handshakes until a channel-connect consumes it.
   */
  admitToken(token: string): boolean {
    const entry = this.liveToken(token);
    if (!entry) return false;
    if (entry.channel === null) this.tokens.delete(token);
    return true;
  }

  /** Consumes a temporary token on channel-connect: right channel or not, it is spent. */
  consumeToken(token: string, channel: string): boolean {
    const entry = this.liveToken(token);
    if (!entry) return false;
    this.tokens.delete(token);
    return entry.channel === channel;
  }

  private liveToken(token: string): TemporaryToken | undefined {
    const entry = this.tokens.get(token);
    if (entry && entry.expiresAt <= this.now()) {
      this.tokens.delete(token);
      return undefined;
    }
    return entry;
  }

  private lastSweep = 0;

  /**
   * Drops expired tokens from the front of the map (the oldest first), at most once a
   * second unless `now` is asked for, so that minting stays O(1).
   */
  private sweepTokens(force = false): void {
    const now = this.now();
    if (!force && now - this.lastSweep < 1000) return;
    this.lastSweep = now;
    for (const [token, entry] of this.tokens) {
      if (entry.expiresAt > now) break;
      this.tokens.delete(token);
    }
  }

  private count(topic: string, worker: number, delta: number): void {
    this.topicWorkers.count(topic, worker, delta);
  }

}

/** The `count` entries of a map with the largest `size`, largest first, without sorting the whole map. */
export function topBy<K, V>(map: Map<K, V>, count: number, size: (value: V) => number): [K, number][] {
  const top: [K, number][] = [];
  for (const [key, value] of map) {
    const n = size(value);
    if (top.length === count && n <= top[top.length - 1]![1]) continue;
    top.push([key, n]);
    top.sort((a, b) => b[1] - a[1]);
    if (top.length > count) top.pop();
  }
  return top;
}
