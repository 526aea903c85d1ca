import type { Worker } from 'node:cluster';
import type { ServerConfig } from '../config.js';
import { BatchQueue, SMALL_MESSAGE_BYTES } from '../ipc/batch-queue.js';
import type { DashboardStats, PrimaryMessage, Publication, Readiness, RegistryRequest, RegistryResults, ServerStats, WorkerMessage, WorkerStats, WorkerUsage } from '../ipc/messages.js';
import type { Logger } from '../log.js';
import { presenceFrame } from '../protocol/native/envelope.js';
import type { MembershipChange, MemoryRegistry } from '../registry/memory-registry.js';
import type { TopicWorkers } from '../registry/topic-workers.js';
import { channelTopic } from '../registry/topics.js';
import { AppDirectory } from '../apps/apps.js';
import { pusherTopic } from '../protocol/pusher/channels.js';
import { PusherRegistry, type PusherChange } from '../registry/pusher-registry.js';
import type { TaskPool } from './task-pool.js';
import { WebhookDispatcher } from './webhooks.js';
import { GroupRegistry } from '../registry/group-registry.js';

interface Attached {
  readonly worker: Worker;
  readonly queue: BatchQueue<PrimaryMessage>;
  /** False until the worker's first message: it may not be listening to the channel before. */
  greeted: boolean;
  /** What was sent before the greeting, delivered right after it. */
  early: PrimaryMessage[];
  usage: WorkerUsage;
}

/** Longest an answer waits for workers to acknowledge a change of interest (a stuck worker must not stall joins). */
const INTEREST_ACK_WAIT_MS = 1000;

/** fds are handed out in blocks so that a worker numbers its sockets without asking each time. */
export const FD_BLOCK = 1024;

const EMPTY_USAGE: WorkerUsage = {
  rss: 0,
  slowConsumersClosed: 0,
  slowConsumersDropping: 0,
  framesReceived: 0,
  framesPublished: 0,
  ackPending: 0,
  ackGivenUp: 0,
  ackOverflowClosed: 0,
  ipcQueuedBytes: 0,
  ipcRefused: 0,
  pusherConnections: 0,
};

function sizeOf(message: PrimaryMessage): number {
  return message.type === 'publish' ? message.publication.frame.length + SMALL_MESSAGE_BYTES : SMALL_MESSAGE_BYTES;
}

/**
 * The primary's switchboard: relays publications to the workers that have subscribers,
 * answers registry and task requests, and publishes presence changes. It never touches a
 * single recipient: workers deliver through their uWS topics. It tells each worker which
 * topics other workers hold, so that a publication crosses only when someone is there, and
 * tells every worker to hold off heavy senders while its queue towards one worker is full.
 */
export class Router {
  private readonly workers = new Map<number, Attached>();
  private nextFd = 1;
  private nextAckId = 0;
  private congested = false;
  private readiness: Readiness = 'starting';
  /** Interest changes sent and not yet acknowledged by every worker told, by sequence. */
  private readonly unacknowledged = new Map<number, Set<number>>();
  private nextInterest = 0;
  /** The interest changes made by the registry request being computed now. */
  private awaitedByRequest: number[] | undefined;
  /** Answers that wait for acknowledgments (or their deadline). */
  private held: { workerId: number; response: PrimaryMessage; seqs: number[]; deadline: number }[] = [];
  private heldTimer: NodeJS.Timeout | undefined;
  private readonly pusher: PusherRegistry;
  private readonly webhooks: WebhookDispatcher;
  private readonly groups: GroupRegistry;

  constructor(
    private readonly config: ServerConfig,
    private readonly registry: MemoryRegistry,
    /** Which workers hold which topics, native and Pusher alike (the registries count into it). */
    private readonly topics: TopicWorkers,
    private readonly pool: TaskPool,
    private readonly log: Logger,
  ) {
    topics.onChange = (topic, worker, added, others) => this.interestChanged(topic, worker, added, others);
    this.webhooks = new WebhookDispatcher(new AppDirectory(config.pusherApps), pool, log);
    this.pusher = new PusherRegistry(topics, (change) => this.pusherChanged(change));
    this.groups = new GroupRegistry(topics, (change) => this.send(change.worker, { type: 'hook', hook: change.created ? 'groupCreated' : 'groupDestroyed', topic: change.topic }));
  }

  attach(worker: Worker): void {
    const queue = new BatchQueue<PrimaryMessage>((batch, written) => {
      if (!worker.isConnected()) return written();
      worker.send(batch, undefined, {}, () => {
        written();
        this.checkFlow();
      });
    }, sizeOf);
    this.workers.set(worker.id, { worker, queue, greeted: false, early: [], usage: EMPTY_USAGE });
  }

  /** Forgets a worker that exited, and tells its sockets' channels they left. */
  detach(workerId: number): void {
    this.workers.delete(workerId);
    // A worker that is gone acknowledges nothing: answers waiting on it go now.
    for (const [seq, waiting] of this.unacknowledged) {
      waiting.delete(workerId);
      if (waiting.size === 0) this.unacknowledged.delete(seq);
    }
    this.releaseHeld();
    // The dead worker cannot run a vacated hook: a live one does.
    const survivor = this.workers.keys().next().value;
    for (const change of this.registry.dropWorker(workerId)) {
      if (survivor === undefined) this.announce('channel-disconnect', change);
      else this.left(change, survivor);
    }
    this.pusher.dropWorker(workerId);
    this.groups.dropWorker(workerId);
    this.checkFlow();
  }

  send(workerId: number, message: PrimaryMessage): void {
    const attached = this.workers.get(workerId);
    if (!attached) return;
    if (!attached.greeted) {
      // The greeting brings the whole picture of who holds what: a change before it is moot.
      if (message.type !== 'interest') attached.early.push(message);
      return;
    }
    attached.queue.push(message);
    if (message.type === 'publish' && !this.congested && attached.queue.queuedBytes > this.config.ipcQueueLimit) this.checkFlow();
  }

  handle(workerId: number, message: WorkerMessage): void {
    this.greet(workerId);
    switch (message.type) {
      case 'publish':
        this.route(message.publication, workerId);
        return;
      case 'open':
        this.registry.open(message.fd, workerId, message.address, message.native);
        return;
      case 'pusher-cache':
        this.pusher.remember(message.app, message.channel, message.frame);
        return;
      case 'pusher-client-event':
        this.webhooks.add(message.app, {
          name: 'client_event',
          channel: message.channel,
          event: message.event,
          data: message.data,
          socket_id: message.socketId,
          ...(message.userId !== undefined ? { user_id: message.userId } : {}),
        });
        return;
      case 'release-address':
        this.registry.releaseAddress(message.address);
        return;
      case 'close': {
        const change = this.registry.close(message.fd);
        if (change) this.left(change, workerId);
        this.pusher.close(message.fd);
        this.groups.close(message.fd);
        return;
      }
      case 'need-fds':
        this.send(workerId, { type: 'fds', first: this.nextFd, count: FD_BLOCK });
        this.nextFd += FD_BLOCK;
        return;
      case 'interest-ack':
        this.interestAcknowledged(workerId, message.seq);
        return;
      case 'usage': {
        const attached = this.workers.get(workerId);
        if (attached) attached.usage = message.usage;
        return;
      }
      case 'request':
        const request = message.request;
        if (request.kind === 'registry') {
          this.respond(workerId, message.id, () => this.registryRequest(workerId, request.body));
        } else {
          const id = message.id;
          this.pool.run(request.body).then(
            (result) => this.send(workerId, { type: 'response', id, ok: true, result }),
            (error: unknown) => {
              this.log.error({ err: error, task: request.body.name }, 'task failed');
              this.send(workerId, { type: 'response', id, ok: false, error: String(error) });
            },
          );
        }
        return;
      case 'listening':
      case 'listen-failed':
        return;
    }
  }

  private dashboard(): DashboardStats {
    const pusher = this.pusher.summary(10);
    const largest = [
      ...this.registry.largestChannels(10).map((c) => ({ ...c, protocol: 'native' as const })),
      ...pusher.largest.map((c) => ({ channel: c.channel, members: c.members, protocol: 'pusher' as const, app: c.app })),
    ];
    return { ...this.stats(), largestChannels: largest.sort((a, b) => b.members - a.members).slice(0, 10), pusherApps: pusher.apps, at: Date.now() };
  }

  /** Tells every worker whether the server takes new work (GET /ready). */
  setReadiness(state: Readiness): void {
    this.readiness = state;
    for (const id of this.workers.keys()) this.send(id, { type: 'readiness', state });
  }

  /** Forwards a publication to every other worker with subscribers of its topic. */
  route(publication: Publication, fromWorker: number | undefined): void {
    for (const workerId of this.topics.workersFor(publication.topic)) {
      if (workerId !== fromWorker) this.send(workerId, { type: 'publish', publication });
    }
  }

  stats(): ServerStats {
    const workers: WorkerStats[] = [...this.workers.values()].map(({ worker, usage }) => ({
      id: worker.id,
      pid: worker.process.pid ?? 0,
      connections: this.registry.connectionsOf(worker.id),
      ...usage,
    }));
    const rss = workers.reduce((sum, w) => sum + w.rss, process.memoryUsage().rss);
    return { connections: this.registry.connectionCount, channels: this.registry.channelCount, rss, temporaryTokens: this.registry.tokenCount, tasks: this.pool.stats, workers };
  }

  /** A worker's first message: it listens now, so it gets the topics others hold, then what waited. */
  private greet(workerId: number): void {
    const attached = this.workers.get(workerId);
    if (!attached || attached.greeted) return;
    attached.greeted = true;
    // The worker holds nothing yet, so every topic held anywhere is held elsewhere.
    attached.queue.push({ type: 'interest', topics: [...this.topics.topics()], remote: true });
    if (this.congested) attached.queue.push({ type: 'flow', congested: true });
    attached.queue.push({ type: 'readiness', state: this.readiness });
    for (const message of attached.early) attached.queue.push(message);
    attached.early = [];
  }

  /** Tells the workers whose view changed whether others now hold `topic`. */
  private interestChanged(topic: string, worker: number, added: boolean, others: number[]): void {
    // A worker not greeted yet learns every topic at its greeting.
    const candidates = others.length === 1 ? others : others.length === 0 ? [...this.workers.keys()].filter((id) => id !== worker) : [];
    const told = candidates.filter((id) => this.workers.get(id)?.greeted);
    if (told.length === 0) return;
    if (!added) {
      // A worker told late that no one else holds a topic only sends one publication too many.
      for (const id of told) this.send(id, { type: 'interest', topics: [topic], remote: false });
      return;
    }
    // A new holder: the request that made it is answered only once every worker told has
    // acknowledged, so a publication made anywhere after the answer finds its way across.
    const seq = this.nextInterest++;
    this.unacknowledged.set(seq, new Set(told));
    this.awaitedByRequest?.push(seq);
    for (const id of told) this.send(id, { type: 'interest', topics: [topic], remote: true, seq });
  }

  /** A worker took in a change of interest: answers held for it may go now. */
  private interestAcknowledged(workerId: number, seq: number): void {
    const waiting = this.unacknowledged.get(seq);
    waiting?.delete(workerId);
    if (waiting?.size === 0) this.unacknowledged.delete(seq);
    this.releaseHeld();
  }

  private releaseHeld(): void {
    this.held = this.held.filter((held) => {
      if (held.seqs.some((seq) => this.unacknowledged.has(seq)) && Date.now() < held.deadline) return true;
      this.send(held.workerId, held.response);
      return false;
    });
  }

  /**
   * Congested while the queue towards some worker is over --ipc-queue-limit; clear once all
   * are under half of it, so that the state does not flap at the bound.
   */
  private checkFlow(): void {
    let largest = 0;
    for (const attached of this.workers.values()) largest = Math.max(largest, attached.queue.queuedBytes);
    const limit = this.config.ipcQueueLimit;
    const congested = this.congested ? largest > limit / 2 : largest > limit;
    if (congested === this.congested) return;
    this.congested = congested;
    this.log.warn({ queuedBytes: largest, limit }, congested ? 'queue towards a worker is full: holding off heavy senders' : 'queues between processes drained');
    for (const id of this.workers.keys()) this.send(id, { type: 'flow', congested });
  }

  private respond(workerId: number, id: number, compute: () => unknown): void {
    this.awaitedByRequest = [];
    let response: PrimaryMessage;
    try {
      response = { type: 'response', id, ok: true, result: compute() };
    } catch (error) {
      this.log.error({ err: error }, 'registry request failed');
      response = { type: 'response', id, ok: false, error: String(error) };
    }
    const seqs = this.awaitedByRequest;
    this.awaitedByRequest = undefined;
    if (seqs.length === 0) return this.send(workerId, response);
    this.held.push({ workerId, response, seqs, deadline: Date.now() + INTEREST_ACK_WAIT_MS });
    this.heldTimer ??= setInterval(() => {
      this.releaseHeld();
      if (this.held.length === 0) {
        clearInterval(this.heldTimer);
        this.heldTimer = undefined;
      }
    }, INTEREST_ACK_WAIT_MS).unref();
  }

  private registryRequest(workerId: number, request: RegistryRequest): RegistryResults[keyof RegistryResults] {
    switch (request.op) {
      case 'join': {
        const result = this.registry.join(request.fd, request.channel);
        if (result?.left) this.left(result.left, workerId);
        if (result) {
          this.announce('channel-connect', result.joined);
          if (result.joined.snapshot.fds.length === 1) this.send(workerId, { type: 'hook', hook: 'channelOccupied', channel: result.joined.channel, protocol: 'native' });
        }
        return null;
      }
      case 'leave': {
        const change = this.registry.leave(request.fd);
        if (change) this.left(change, workerId);
        return null;
      }
      case 'assoc':
        this.registry.assoc(request.fd, request.userId);
        return null;
      case 'mint-token':
        return this.registry.mintToken(request.channel, this.config.tempTokenTtl * 1000, this.config.tempTokenMax);
      case 'admit-token':
        return this.registry.admitToken(request.token);
      case 'consume-token':
        return this.registry.consumeToken(request.token, request.channel);
      case 'has-members':
        return this.registry.hasMembers(request.channel);
      case 'admit-address':
        return this.registry.admitAddress(request.address, request.limit);
      case 'stats':
        return this.stats();
      case 'pusher-open':
        return this.pusher.open(request.fd, workerId, request.app, request.maxConnections);
      case 'pusher-join':
        return this.pusher.join(request.fd, request.channel, request.member, request.maxMembers);
      case 'pusher-leave':
        this.pusher.leave(request.fd, request.channel);
        return null;
      case 'pusher-signin':
        this.pusher.signin(request.fd, request.userId);
        return null;
      case 'pusher-channels':
        return this.pusher.channels(request.app, request.prefix, request.userCount);
      case 'pusher-channel':
        return this.pusher.channel(request.app, request.channel);
      case 'pusher-users':
        return this.pusher.userIds(request.app, request.channel);
      case 'pusher-terminate':
        for (const id of this.workers.keys()) this.send(id, { type: 'pusher-terminate', app: request.app, userId: request.userId });
        return null;
      case 'dashboard':
        return this.dashboard();
      case 'group-join':
        this.groups.join(request.fd, workerId, request.topic);
        return null;
      case 'group-leave':
        this.groups.leave(request.fd, request.topic);
        return null;
    }
  }

  /** Member events go to the channel's other subscribers on every worker; the rest to the app's webhooks. */
  private pusherChanged(change: PusherChange): void {
    switch (change.kind) {
      case 'webhook':
        this.webhooks.add(change.app, change.event);
        if (change.worker !== undefined && (change.event.name === 'channel_occupied' || change.event.name === 'channel_vacated')) {
          const hook = change.event.name === 'channel_occupied' ? 'channelOccupied' : 'channelVacated';
          this.send(change.worker, { type: 'hook', hook, channel: change.event.channel, protocol: 'pusher', app: change.app });
        }
        return;
      case 'member-added': {
        const data = JSON.stringify({ user_id: change.member.id, user_info: change.member.info });
        const frame = JSON.stringify({ event: 'pusher_internal:member_added', channel: change.channel, data });
        this.route({ topic: pusherTopic(change.app, change.channel), frame, except: change.fd }, undefined);
        return;
      }
      case 'member-removed': {
        const frame = JSON.stringify({ event: 'pusher_internal:member_removed', channel: change.channel, data: JSON.stringify({ user_id: change.userId }) });
        this.route({ topic: pusherTopic(change.app, change.channel), frame }, undefined);
        return;
      }
    }
  }

  /** A socket left a native channel: presence, and the vacated hook when it was the last. */
  private left(change: MembershipChange, workerId: number): void {
    this.announce('channel-disconnect', change);
    if (change.snapshot.fds.length === 0) this.send(workerId, { type: 'hook', hook: 'channelVacated', channel: change.channel, protocol: 'native' });
  }

  /** Publishes a presence change to the channel's members on every worker. */
  private announce(action: 'channel-connect' | 'channel-disconnect', change: MembershipChange): void {
    if (!this.config.presence || change.snapshot.fds.length === 0) return;
    const ackId = this.config.ack ? `p-${(this.nextAckId++).toString(36)}` : undefined;
    const limits = { maxMembers: this.config.presenceMaxMembers, maxBytes: this.config.presenceMaxBytes };
    const frame = presenceFrame(action, change.fd, change.channel, change.snapshot, limits, ackId);
    this.route({ topic: channelTopic(change.channel), frame, ...(ackId ? { ackId } : {}) }, undefined);
  }
}
