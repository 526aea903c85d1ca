/**
 * Every message between the primary and the event workers, as one discriminated union per
 * direction. Both sides import these types; nothing else crosses the cluster channel.
 */
import type { EngineStats, RegistryCall } from '../registry/engine.js';
import type { TaskRequest } from '../tasks/types.js';
import type { Publication, Topic } from '../bus/bus.js';

export type { Publication, Topic };

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

/** The server's numbers: the engine's, and what the primary adds of its processes. */
export interface ServerStats extends EngineStats {
  /** Resident memory of the whole server (primary and workers), bytes. */
  rss: number;
  /** The task pool: threads, tasks waiting for a thread, tasks done since start. */
  tasks: { threads: number; queued: number; completed: number };
  workers: WorkerStats[];
  /** With Pusher apps: webhook requests delivered and given up, events dropped at the queue's bound, and bytes held now. */
  webhooks?: { delivered: number; failed: number; dropped: number; bytes: number };
}

/** What a worker asks the primary: a registry operation, the server's numbers, or a task. */
export type Request = { kind: 'registry'; call: RegistryCall } | { kind: 'stats'; view: 'stats' | 'dashboard' } | { kind: 'task'; body: TaskRequest };

export type WorkerMessage =
  | { type: 'listening'; port: number }
  | { type: 'listen-failed'; reason: string }
  | { type: 'publish'; publication: Publication }
  /** A one-way registry operation (a socket opened or closed, an address given back). */
  | { type: 'registry'; call: RegistryCall }
  /** A client event, for the app's webhooks. */
  | { type: 'pusher-client-event'; app: string; channel: string; event: string; data: unknown; socketId: string; userId?: string }
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

