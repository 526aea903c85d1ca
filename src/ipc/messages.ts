/**
 * Every message between the primary and the event workers, as one discriminated union per
 * direction. Both sides import these types; nothing else crosses the cluster channel.
 */
import type { ChannelStats, PresenceMember } from '../registry/pusher-registry.js';
import type { SharedRoster } from './roster-share.js';
import type { HistoryCounters } from '../history/memory-history.js';
import type { TaskRequest, TaskResult } from '../tasks/types.js';
import type { Replay } from '../history/sequenced-frame.js';

/** A topic as both sides name it: `ch:<channel>`, `lobby` (sockets in no channel) or `all`. */
export type Topic = string;

/** A frame published to a topic, the same bytes for every recipient. */
export interface Publication {
  topic: Topic;
  /** The message; for a binary one, its bytes in base64 (JSON carries no bytes). */
  frame: string;
  binary?: true;
  /** Present when acknowledgments are on: recipients must ack this id. */
  ackId?: string;
  /** A socket (by fd) that must not receive it, on whichever worker it is. */
  except?: number;
  /** With --history: a channel frame for the primary to number and keep before anyone gets it. */
  keep?: true;
  /** With --history: its number in the channel; members get it on the channel's history topic. */
  seq?: number;
}

export type RegistryRequest =
  | { op: 'join'; fd: number; channel: string }
  | { op: 'leave'; fd: number }
  | { op: 'assoc'; fd: number; userId: string | number }
  | { op: 'mint-token'; channel: string | null }
  | { op: 'admit-token'; token: string }
  | { op: 'consume-token'; token: string; channel: string }
  | { op: 'has-members'; channel: string }
  | { op: 'admit-address'; address: string; limit: number }
  | { op: 'stats' }
  | { op: 'pusher-open'; fd: number; app: string; maxConnections: number }
  | { op: 'pusher-join'; fd: number; channel: string; member?: PresenceMember; maxMembers: number }
  | { op: 'pusher-leave'; fd: number; channel: string }
  | { op: 'pusher-signin'; fd: number; userId: string }
  | { op: 'pusher-channels'; app: string; prefix: string; userCount: boolean }
  | { op: 'pusher-channel'; app: string; channel: string }
  | { op: 'pusher-users'; app: string; channel: string }
  | { op: 'pusher-terminate'; app: string; userId: string }
  | { op: 'dashboard' }
  | { op: 'group-join'; fd: number; topic: string }
  | { op: 'group-leave'; fd: number; topic: string }
  | { op: 'history-replay'; channel: string; since: number; epoch?: string; limit?: number; maxBytes?: number }
  | { op: 'history-publish'; channel: string; frame: string; ackId?: string };

export interface RegistryResults {
  join: null;
  leave: null;
  assoc: null;
  /** A token, or how many seconds until one can be minted when the cap is reached. */
  'mint-token': { token: string } | { retryAfter: number };
  'admit-token': boolean;
  'consume-token': boolean;
  'has-members': boolean;
  'admit-address': boolean;
  stats: ServerStats;
  'pusher-open': boolean;
  /** Over IPC the roster goes as a SharedRoster, once per worker while it stays the same. */
  'pusher-join': { ok: true; roster?: SharedRoster; cached?: string | null } | { ok: false; reason: 'full' };
  'pusher-leave': null;
  'pusher-signin': null;
  'pusher-channels': Record<string, { user_count?: number }>;
  'pusher-channel': ChannelStats;
  'pusher-users': string[];
  'pusher-terminate': null;
  dashboard: DashboardStats;
  'group-join': null;
  'group-leave': null;
  'history-replay': Replay;
  'history-publish': { seq: number };
}

/** What a worker reports of itself once a second. */
export interface WorkerUsage {
  rss: number;
  /** Sockets closed for passing --max-backpressure, since the worker started. */
  slowConsumersClosed: number;
  /** Times a kept slow socket was found missing messages (--slow-consumer drop). */
  slowConsumersDropping: number;
  /** Frames received from this worker's sockets, since it started. */
  framesReceived: number;
  /** Frames this worker published to a topic (each once, whatever the recipients), since it started. */
  framesPublished: number;
  /** Messages waiting for at least one acknowledgment now. */
  ackPending: number;
  /** Deliveries given up after the last re-send, since the worker started. */
  ackGivenUp: number;
  /** Sockets closed with 1008 for leaving too much unacknowledged, since the worker started. */
  ackOverflowClosed: number;
  /** Bytes this worker has queued towards the primary now. */
  ipcQueuedBytes: number;
  /** Frames refused because the link between processes was full for their sender, since the worker started. */
  ipcRefused: number;
  /** Open Pusher connections of this worker. */
  pusherConnections: number;
}

export interface WorkerStats extends WorkerUsage {
  id: number;
  pid: number;
  connections: number;
}

export interface ServerStats {
  connections: number;
  channels: number;
  /** Resident memory of the whole server (primary and workers), bytes. */
  rss: number;
  /** Live temporary tokens the registry keeps. */
  temporaryTokens: number;
  /** The task pool: threads, tasks waiting for a thread, tasks done since start. */
  tasks: { threads: number; queued: number; completed: number };
  workers: WorkerStats[];
  /** With --history on one machine: bytes kept, and what --history-max-bytes took since start. */
  history?: HistoryCounters;
  /** With Pusher apps: webhook requests delivered and given up, events dropped at the queue's bound, and bytes held now. */
  webhooks?: { delivered: number; failed: number; dropped: number; bytes: number };
  /** With --redis: this node's id, the live nodes (itself included), and the link to Redis. */
  node?: string;
  nodes?: number;
  redis?: 'up' | 'down';
  /** With --redis: publications across nodes, and the link's failures, since start. */
  cluster?: {
    published: number;
    received: number;
    failed: number;
    missed: number;
    pendingBytes: number;
    lagMs: number;
    redisDisconnects: number;
    busDisconnects: number;
    redisErrors: number;
    nodesRemoved: number;
  };
}

export type Request = { kind: 'registry'; body: RegistryRequest } | { kind: 'task'; body: TaskRequest };

export type WorkerMessage =
  | { type: 'listening'; port: number }
  | { type: 'listen-failed'; reason: string }
  | { type: 'publish'; publication: Publication }
  /** `native` sockets count in the native topics (fanout, channel-less broadcast); Pusher ones do not. */
  | { type: 'open'; fd: number; address?: string; native: boolean; /** A Pusher socket of an app without a connection quota: counted for it at once. */ pusherApp?: string }
  /** The last event of a cache channel, kept for its next subscribers. */
  | { type: 'pusher-cache'; app: string; channel: string; frame: string }
  /** A client event, for the app's webhooks. */
  | { type: 'pusher-client-event'; app: string; channel: string; event: string; data: unknown; socketId: string; userId?: string }
  /** A handshake admitted by admit-address did not become a socket. */
  | { type: 'release-address'; address: string }
  | { type: 'close'; fd: number }
  | { type: 'request'; id: number; request: Request }
  | { type: 'need-fds' }
  /** This worker took in the interest change `seq`. */
  | { type: 'interest-ack'; seq: number }
  | { type: 'usage'; usage: WorkerUsage };

export type PrimaryMessage =
  | { type: 'publish'; publication: Publication }
  /** Whether other workers now have subscribers of these topics: publish across only then. With `seq`, acknowledge it. */
  | { type: 'interest'; topics: Topic[]; remote: boolean; seq?: number }
  /** The primary's queue towards some worker is over its bound: heavy senders must hold off. */
  | { type: 'flow'; congested: boolean }
  /** Close every connection of this Pusher user (terminate_connections). */
  | { type: 'pusher-terminate'; app: string; userId: string }
  /** Whether the server takes new work: GET /ready answers from this. */
  | { type: 'readiness'; state: Readiness }
  /** A once-per-server event, for the hooks of the worker chosen to run them. */
  | { type: 'hook'; hook: 'channelOccupied' | 'channelVacated'; channel: string; protocol: 'native' | 'pusher'; app?: string }
  | { type: 'hook'; hook: 'groupCreated' | 'groupDestroyed'; topic: string }
  | { type: 'response'; id: number; ok: true; result: unknown }
  /** `unavailable`: the request needs Redis, which is away (answered 503). */
  | { type: 'response'; id: number; ok: false; error: string; unavailable?: true }
  | { type: 'fds'; first: number; count: number }
  | { type: 'drain'; closeCode: number };

/** What the live dashboard shows beside the server's statistics. */
export interface DashboardStats extends ServerStats {
  largestChannels: { channel: string; members: number; protocol: 'native' | 'pusher'; app?: string }[];
  pusherApps: { id: string; connections: number; channels: number }[];
  /** The time the primary took these numbers, ms since the epoch. */
  at: number;
}

/** `starting` until every worker listens, `draining` from SIGTERM on, `redis-down` while a node cannot reach Redis. */
export type Readiness = 'starting' | 'ready' | 'draining' | 'redis-down';

/** What travels over the cluster channel: one batch per event-loop turn. */
export interface Batch<M> {
  conveyor: 1;
  messages: M[];
}

