import type { DashboardStats, ServerStats } from '../ipc/messages.js';
import type { ChannelStats, PresenceMember, PusherJoinResult } from './pusher-registry.js';
import type { Replay, ReplayRequest } from '../history/sequenced-frame.js';

/**
 * Global membership, user ids and temporary tokens, as an event worker sees them. The
 * primary's in-memory registry answers over IPC; a Redis registry plugs in here.
 */
export interface Registry {
  /**
   * A socket opened; `address` is given when connections per address are limited (see
   * admitAddress); `native` is false for Pusher sockets, which are counted but in no native topic.
   * `pusherApp`: a Pusher connection of an app with no connection quota,
   * counted for its app in the same one-way message (no pusherOpen round trip per socket).
   */
  open(fd: number, address?: string, native?: boolean, pusherApp?: string): void;
  close(fd: number): void;
  join(fd: number, channel: string): Promise<void>;
  leave(fd: number): Promise<void>;
  assoc(fd: number, userId: string | number): Promise<void>;
  /** A new temporary token, or the seconds to wait when the server holds its maximum. */
  mintToken(channel: string | null): Promise<{ token: string } | { retryAfter: number }>;
  /** True when a temporary token admits a handshake (a channel-less one is spent by it). */
  admitToken(token: string): Promise<boolean>;
  /** Spends a temporary token on channel-connect; true when it was minted for `channel`. */
  consumeToken(token: string, channel: string): Promise<boolean>;
  hasMembers(channel: string): Promise<boolean>;
  /**
   * Reserves a connection for `address` unless it already has `limit` open or reserved.
   * The reservation becomes the socket at open(fd, address), or is given back by releaseAddress.
   */
  admitAddress(address: string, limit: number): Promise<boolean>;
  releaseAddress(address: string): void;
  stats(): Promise<ServerStats>;
  /** The statistics and what the live dashboard adds: largest channels, Pusher apps. */
  dashboard(): Promise<DashboardStats>;

  // Pusher: connections per app, subscriptions, presence rosters, users, cache channels.
  /** Counts a connection of `app`; false when the app is at `maxConnections` (0 = no limit). */
  pusherOpen(fd: number, app: string, maxConnections: number): Promise<boolean>;
  pusherJoin(fd: number, channel: string, member: PresenceMember | undefined, maxMembers: number): Promise<PusherJoinResult>;
  pusherLeave(fd: number, channel: string): Promise<void>;
  pusherSignin(fd: number, userId: string): Promise<void>;
  /** Keeps the last event of a cache channel. */
  pusherRemember(app: string, channel: string, frame: string): void;
  pusherChannels(app: string, prefix: string, userCount: boolean): Promise<Record<string, { user_count?: number }>>;
  pusherChannel(app: string, channel: string): Promise<ChannelStats>;
  pusherUsers(app: string, channel: string): Promise<string[]>;
  /** Closes every connection of a user, on every worker. */
  pusherTerminate(app: string, userId: string): Promise<void>;

  // History (--history): replays for recovering joiners, and kept HTTP publishes.
  /**
   * The replay of a recovering joiner. `onArrival` runs as the answer arrives, before any
   * publication that follows it: the joiner must take the live frames from exactly there.
   */
  historyReplay(request: ReplayRequest, onArrival?: (replay: Replay) => void): Promise<Replay>;
  /** Numbers, keeps and publishes a channel frame; resolves with its seq. */
  historyPublish(channel: string, frame: string, ackId: string | undefined): Promise<number>;

  // WebSocket apps' groups, by topic.
  groupJoin(fd: number, topic: string): Promise<void>;
  groupLeave(fd: number, topic: string): Promise<void>;
}
