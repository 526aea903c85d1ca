import type { WebhookPayload } from '../apps/apps.js';
import type { Publication } from '../bus/bus.js';
import type { HistoryCounters } from '../history/memory-history.js';
import type { Replay, ReplayRequest } from '../history/sequenced-frame.js';

/** A presence member as a connection presented it in its signed channel_data. */
export interface PresenceMember {
  id: string;
  info: unknown;
}

/** A Pusher channel's numbers, as the HTTP API gives them. */
export interface ChannelStats {
  occupied: boolean;
  subscription_count: number;
  user_count?: number;
}

/**
 * A presence roster: `json` is a PresenceRoster's JSON, made once per change of the channel's
 * members; `key` names the channel, so that a worker is sent one roster once while it stays the same.
 */
export interface Roster {
  key: string;
  json: string;
}

export type PusherJoinResult = { ok: true; roster?: Roster; cached?: string | null } | { ok: false; reason: 'full' };

/** A native channel's members as a presence frame lists them. */
export interface PresenceSnapshot {
  fds: number[];
  userIds: Record<string, string | number>;
  /** Members, when `fds` does not list them all (a channel too large to list). */
  count?: number;
}

/** A membership change that the remaining members of a native channel may need to hear about. */
export interface MembershipChange {
  fd: number;
  channel: string;
  snapshot: PresenceSnapshot;
}

/** An answer now, or once Redis gave it. */
export type Answer<T> = T | Promise<T>;

/**
 * Every registry operation an event worker asks for, with the asking worker first. This is
 * the registry's whole vocabulary: the IPC request and result types and the worker-side
 * client are derived from it, so an operation is added here, in both engines and where a
 * worker calls it, and nowhere else.
 */
export interface RegistryOperations {
  /**
   * A socket opened; `address` is given when connections per address are limited (see
   * admitAddress); `native` is false for Pusher sockets, counted but in no native topic.
   * `pusherApp`: a Pusher connection of an app with no connection quota, counted for it at once.
   */
  open(worker: number, fd: number, address?: string, native?: boolean, pusherApp?: string): void;
  close(worker: number, fd: number): void;
  /** A handshake admitted by admitAddress did not become a socket. */
  releaseAddress(worker: number, address: string): void;

  join(worker: number, fd: number, channel: string): Answer<null>;
  leave(worker: number, fd: number): Answer<null>;
  assoc(worker: number, fd: number, userId: string | number): Answer<null>;
  /** A new temporary token (channel-less without `channel`), or the seconds to wait at the maximum. */
  mintToken(worker: number, channel?: string): Answer<{ token: string } | { retryAfter: number }>;
  /** True when a temporary token admits a handshake (a channel-less one is spent by it). */
  admitToken(worker: number, token: string): Answer<boolean>;
  /** Spends a temporary token on channel-connect; true when it was minted for `channel`. */
  consumeToken(worker: number, token: string, channel: string): Answer<boolean>;
  hasMembers(worker: number, channel: string): Answer<boolean>;
  /**
   * Reserves a connection for `address` unless it already has `limit` open or reserved. The
   * reservation becomes the socket at open(…, address), or is given back by releaseAddress.
   */
  admitAddress(worker: number, address: string, limit: number): Answer<boolean>;

  /** Counts a Pusher connection of `app`; false when the app is at `maxConnections` (0 = no limit). */
  pusherOpen(worker: number, fd: number, app: string, maxConnections: number): Answer<boolean>;
  pusherJoin(worker: number, fd: number, channel: string, member: PresenceMember | undefined, maxMembers: number): Answer<PusherJoinResult>;
  pusherLeave(worker: number, fd: number, channel: string): Answer<null>;
  pusherSignin(worker: number, fd: number, userId: string): Answer<null>;
  /**
   * Keeps the last event of a cache channel. Answered once this node keeps it, so that an
   * HTTP trigger is answered only when a subscriber on any worker would get the event.
   */
  pusherRemember(worker: number, app: string, channel: string, frame: string): Answer<null>;
  pusherChannels(worker: number, app: string, prefix: string, userCount: boolean): Answer<Record<string, { user_count?: number }>>;
  pusherChannel(worker: number, app: string, channel: string): Answer<ChannelStats>;
  pusherUsers(worker: number, app: string, channel: string): Answer<string[]>;
  /** Closes every connection of a user, on every worker of every node. */
  pusherTerminate(worker: number, app: string, userId: string): Answer<null>;

  /** WebSocket apps' groups, by topic. */
  groupJoin(worker: number, fd: number, topic: string): Answer<null>;
  groupLeave(worker: number, fd: number, topic: string): Answer<null>;

  /** One part of what a recovering joiner missed (--history); never more than `request.maxBytes`. */
  historyReplay(worker: number, request: ReplayRequest): Answer<Replay>;
  /** Numbers, keeps and publishes a channel frame (--history); resolves with its seq. */
  historyPublish(worker: number, channel: string, frame: string, ackId?: string, except?: number): Answer<number>;
}

/** Operations sent one way: nothing answers them. */
export const ONE_WAY_OPERATIONS = ['open', 'close', 'releaseAddress'] as const satisfies readonly (keyof RegistryOperations)[];
export type OneWayOperation = (typeof ONE_WAY_OPERATIONS)[number];
export type Operation = keyof RegistryOperations;

/**
 * Every operation's name, for the primary to accept from a worker and nothing else (not an
 * engine's lifecycle or private methods). The compiler keeps it complete.
 */
const OPERATION_NAMES: Record<Operation, true> = {
  open: true, close: true, releaseAddress: true, join: true, leave: true, assoc: true, mintToken: true, admitToken: true, consumeToken: true, hasMembers: true, admitAddress: true,
  pusherOpen: true, pusherJoin: true, pusherLeave: true, pusherSignin: true, pusherRemember: true, pusherChannels: true, pusherChannel: true, pusherUsers: true, pusherTerminate: true,
  groupJoin: true, groupLeave: true, historyReplay: true, historyPublish: true,
};

export function isOperation(name: string): name is Operation {
  return Object.hasOwn(OPERATION_NAMES, name);
}
export type AskedOperation = Exclude<Operation, OneWayOperation>;

type WithoutWorker<T> = T extends [number, ...infer Rest] ? Rest : never;
/** An operation's arguments as a worker gives them (the primary adds the worker). */
export type OperationArgs<K extends Operation> = WithoutWorker<Parameters<RegistryOperations[K]>>;
export type OperationResult<K extends Operation> = Awaited<ReturnType<RegistryOperations[K]>>;
/** A registry operation as it crosses from a worker to the primary. */
export type RegistryCall = { [K in Operation]: { op: K; args: OperationArgs<K> } }[Operation];

/** A hook run once for the whole server, by one worker (`worker` when it is alive, else any). */
export type ServerHook =
  | { hook: 'channelOccupied' | 'channelVacated'; channel: string; protocol: 'native' | 'pusher'; app?: string; worker?: number }
  | { hook: 'groupCreated' | 'groupDestroyed'; topic: string; worker?: number };

/**
 * What an engine reports, as protocol-neutral facts, once for the whole server: the
 * primary's announcer turns them into protocol frames, hook calls and webhooks.
 */
export interface EngineEvents {
  /** A native channel's members changed: the others hear it (presence). */
  membership(action: 'joined' | 'left', change: MembershipChange): void;
  hook(hook: ServerHook): void;
  webhook(app: string, event: WebhookPayload): void;
  /** A user's first connection in a presence channel; `fd` is the one that must not hear it. */
  memberAdded(app: string, channel: string, member: PresenceMember, fd: number): void;
  memberRemoved(app: string, channel: string, userId: string): void;
  /** A publication for this node's workers with subscribers: numbered channel frames, another node's publications. */
  deliver(publication: Publication): void;
  /** Close every connection of a user on this node's workers. */
  terminate(app: string, userId: string): void;
  /** Whether the engine can serve requests changed (Redis went away or came back). */
  availability(): void;
  /** What waits to cross to other nodes crossed its bound or came back under it. */
  pressure(): void;
}

/** With several nodes: what crossed between them and how the link to Redis fared, since start. */
export interface NodeCounters {
  /** Publications sent to the other nodes. */
  published: number;
  /** Publications received from the other nodes. */
  received: number;
  /** Publications that could not cross: Redis was away, or too many bytes were waiting for it. */
  failed: number;
  /** Publications of held topics that never arrived here (Redis cut the subscription meanwhile). */
  missed: number;
  /** Bytes of publications handed to Redis and not yet answered. */
  pendingBytes: number;
  /** How late this node's last probe came back through the bus, in ms. */
  lagMs: number;
  /** Times this node lost its link to Redis. */
  redisDisconnects: number;
  /** Times Redis closed the bus subscription while the node's commands went on. */
  busDisconnects: number;
  /** Errors of the link to Redis, failed connection attempts included. */
  redisErrors: number;
  /** Dead nodes this node took out of Redis. */
  nodesRemoved: number;
}

/** The numbers an engine gives the server's statistics. */
export interface EngineStats {
  connections: number;
  channels: number;
  temporaryTokens: number;
  history?: HistoryCounters;
  /** With several nodes: this node's id, the live nodes, the link and its counters. */
  node?: string;
  nodes?: number;
  redis?: 'up' | 'down';
  cluster?: NodeCounters;
}

/**
 * The server's state behind one seam, chosen once at start: in the primary's memory, or this
 * node's part of a state several nodes share in Redis. The router asks it and relays; it
 * never asks which one it has.
 */
export interface Engine extends RegistryOperations {
  /** This node's id among several (presence ack ids and fds are unique across them), none alone. */
  readonly nodeId: string | undefined;
  /** False while a dependency it needs (Redis) is away: /ready says so. */
  readonly available: boolean;
  /** True while what waits to cross to other nodes is over its bound: heavy senders hold off. */
  readonly congested: boolean;
  /** Resolves once the engine can number sockets; `waiting` opens a 503 listener meanwhile when that takes a while. */
  start(waiting: () => Promise<{ close(): Promise<void> }>): Promise<void>;
  /** Leaves: every change made is written, this node's part taken out, connections closed. */
  stop(): Promise<void>;
  /** A worker died: its sockets leave everything they were in, with the events that follow. */
  dropWorker(worker: number): void;
  /** Sends a publication to the other nodes with subscribers of its topic (none alone). */
  publishAcross(publication: Publication): void;
  /**
   * This node gained its first subscriber of `topic` or lost its last. Resolves once other
   * nodes' publications of it reach this node; undefined when there is nothing to wait for.
   */
  nodeInterest(topic: string, held: boolean): Promise<void> | undefined;
  /** A block of fds unique across the server, or undefined when it must be asked again shortly. */
  takeFds(count: number): { first: number; count: number } | undefined;
  stats(): EngineStats;
  /** Open sockets of one worker, both protocols. */
  connectionsOf(worker: number): number;
  largestChannels(count: number): { channel: string; members: number; protocol: 'native' | 'pusher'; app?: string }[];
  pusherApps(): { id: string; connections: number; channels: number }[];
}
