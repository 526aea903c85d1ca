import type { Worker } from 'node:cluster';
import type { ServerConfig } from '../config.js';
import { BatchQueue, MAX_WRITING_BYTES } from '../ipc/batch-queue.js';
import { messageSize } from '../ipc/message-size.js';
import type { DashboardStats, PrimaryMessage, Publication, Readiness, RegistryRequest, RegistryResults, ServerStats, WorkerMessage, WorkerStats, WorkerUsage } from '../ipc/messages.js';
import type { Logger } from '../log.js';
import { presenceFrame } from '../protocol/native/envelope.js';
import type { MembershipChange, MemoryRegistry } from '../registry/memory-registry.js';
import type { TopicWorkers } from '../registry/topic-workers.js';
import { channelTopic } from '../registry/topics.js';
import { AppDirectory } from '../apps/apps.js';
import { pusherTopic } from '../protocol/pusher/channels.js';
import { memberAddedFrame, memberRemovedFrame } from '../protocol/pusher/frames.js';
import { PusherRegistry, type PusherChange } from '../registry/pusher-registry.js';
import type { TaskPool } from './task-pool.js';
import { WebhookDispatcher } from './webhooks.js';
import { GroupRegistry } from '../registry/group-registry.js';
import { ServiceUnavailable } from '../errors.js';
import type { ControlMessage } from '../bus/redis-bus.js';
import type { ClusterNode } from './cluster-node.js';
import { ClusterSync } from './cluster-sync.js';
import { MemoryHistory } from '../history/memory-history.js';
import { REPLAY_MAX_PART_BYTES, withId } from '../history/sequenced-frame.js';
import { ReplayGate } from './replay-gate.js';
import { RosterSender, type SharedRoster } from '../ipc/roster-share.js';
import type { PusherJoinResult } from '../registry/pusher-registry.js';

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

/** Stands for Redis among the workers that acknowledge a change of interest: the node's subscription to a topic. */
const REDIS_LINK = -1;

/** History reads that may wait for their turn per worker before more are refused (503, an error frame). */
const MAX_WAITING_REPLAYS = 20_000;

/** A request's failure as its answer: a ServiceUnavailable tells the worker to answer 503 or its error frame. */
function failedResponse(id: number, error: unknown): PrimaryMessage {
  return error instanceof ServiceUnavailable ? { type: 'response', id, ok: false, error: error.message, unavailable: true } : { type: 'response', id, ok: false, error: String(error) };
}

/** fds are handed out in blocks so that a worker numbers its sockets without asking each time. */
export const FD_BLOCK = 4096;

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
  private congestedTowardsWorkers = false;
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
  private readonly apps: AppDirectory;
  /** With --redis: this node's part of the whole server's state. */
  private readonly sync: ClusterSync | undefined;
  /** With --history on one machine: the primary numbers and keeps every channel frame. */
  private readonly history: MemoryHistory | undefined;
  private readonly rosters = new RosterSender();
  private readonly replays = new ReplayGate((worker) => this.workers.get(worker)?.queue.queuedBytes ?? 0, REPLAY_MAX_PART_BYTES, MAX_WRITING_BYTES, MAX_WAITING_REPLAYS);

  constructor(
    private readonly config: ServerConfig,
    private readonly registry: MemoryRegistry,
    /** Which workers hold which topics, native and Pusher alike (the registries count into it). */
    private readonly topics: TopicWorkers,
    private readonly pool: TaskPool,
    private readonly log: Logger,
    private readonly cluster?: ClusterNode,
  ) {
    topics.onChange = (topic, worker, added, others) => this.interestChanged(topic, worker, added, others);
    this.apps = new AppDirectory(config.pusherApps);
    this.webhooks = new WebhookDispatcher(this.apps, pool, log);
    this.pusher = new PusherRegistry(topics, (change) => this.pusherChanged(change));
    this.groups = new GroupRegistry(topics, (change) => {
      // With several nodes a group is created by its first member anywhere, destroyed with its last.
      if (this.sync) return this.sync.group(change.topic, change.created, change.worker);
      this.send(change.worker, { type: 'hook', hook: change.created ? 'groupCreated' : 'groupDestroyed', topic: change.topic });
    });
    if (config.history > 0 && !cluster) this.history = new MemoryHistory(config.history, config.historyTtl * 1000, (channel) => registry.hasMembers(channel), Date.now, config.historyMaxBytes);
    if (cluster) {
      this.sync = new ClusterSync(cluster, registry, this.pusher, () => this.groups.topics(), (app) => (this.apps.byId(app)?.maxConnections ?? 0) > 0, {
        route: (publication) => this.route(publication, undefined),
        localOnly: (publication) => this.route(publication, undefined, false),
        presence: (action, change) => this.announce(action, change),
        webhook: (app, event) => this.webhooks.add(app, event),
        hook: (hook, channel, protocol, app) => {
          const worker = this.workers.keys().next().value;
          if (worker !== undefined) this.send(worker, { type: 'hook', hook, channel, protocol, ...(app !== undefined ? { app } : {}) });
        },
        groupHook: (hook, topic, worker) => {
          const target = worker !== undefined && this.workers.has(worker) ? worker : this.workers.keys().next().value;
          if (target !== undefined) this.send(target, { type: 'hook', hook, topic });
        },
      }, log, config.presence ? config.presenceMaxMembers : -1, config);
      registry.onAddressReleased = (address) => this.sync?.releaseAddress(address);
    }
  }

  /** Redis is reachable again: this node's state goes back in, then readiness follows. */
  async clusterUp(): Promise<void> {
    await this.sync?.reregister();
    this.setReadiness(this.readiness);
  }

  clusterDown(): void {
    this.setReadiness(this.readiness);
  }

  /** A publication from another node: this node's workers with subscribers deliver it. */
  fromNode(publication: Publication): void {
    this.route(publication, undefined, false);
  }

  control(message: ControlMessage): void {
    if (message.op === 'pusher-terminate') for (const id of this.workers.keys()) this.send(id, { type: 'pusher-terminate', app: message.app, userId: message.userId });
  }

  /** Takes a dead node's sockets out of their channels, with the presence frames and events that follow. */
  removeNode(node: string): Promise<void> {
    return this.sync?.removeNode(node) ?? Promise.resolve();
  }

  /** Resolves once every change this node made is in Redis (before it leaves). */
  async settled(): Promise<void> {
    await this.sync?.settled();
  }

  attach(worker: Worker): void {
    const queue = new BatchQueue<PrimaryMessage>((batch, written) => {
      if (!worker.isConnected()) return written();
      worker.send(batch, undefined, {}, () => {
        written();
        this.checkFlow();
        this.replays.drained(worker.id);
      });
    }, messageSize);
    this.workers.set(worker.id, { worker, queue, greeted: false, early: [], usage: EMPTY_USAGE });
  }

  /** Forgets a worker that exited, and tells its sockets' channels they left. */
  detach(workerId: number): void {
    this.workers.delete(workerId);
    this.replays.dropWorker(workerId);
    this.rosters.dropWorker(workerId);
    // A worker that is gone acknowledges nothing: answers waiting on it go now.
    for (const [seq, waiting] of this.unacknowledged) {
      waiting.delete(workerId);
      if (waiting.size === 0) this.unacknowledged.delete(seq);
    }
    this.releaseHeld();
    // The dead worker cannot run a vacated hook: a live one does.
    const survivor = this.workers.keys().next().value;
    for (const change of this.registry.dropWorker(workerId)) {
      // With several nodes the change goes to Redis whether or not a worker is left here.
      if (this.sync) void this.sync.left(change);
      else if (survivor === undefined) this.announce('channel-disconnect', change);
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
    attached.queue.push(this.outgoing(workerId, message));
    if (message.type === 'publish' && !this.congestedTowardsWorkers && attached.queue.queuedBytes > this.config.ipcQueueLimit) this.checkFlow();
  }

  handle(workerId: number, message: WorkerMessage): void {
    this.greet(workerId);
    switch (message.type) {
      case 'publish':
        if (message.publication.keep) {
          const sequenced = this.sequence(message.publication);
          if (sequenced instanceof Promise) sequenced.catch(() => {});
          return;
        }
        this.route(message.publication, workerId);
        return;
      case 'open':
        this.registry.open(message.fd, workerId, message.address, message.native);
        // With no quota there is nothing to decide: the count is kept as pusher-open would.
        if (message.pusherApp !== undefined) this.pusher.open(message.fd, workerId, message.pusherApp, 0);
        return;
      case 'pusher-cache':
        this.pusher.remember(message.app, message.channel, message.frame);
        this.sync?.remember(message.app, message.channel, message.frame);
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
        this.handOutFds(workerId);
        return;
      case 'interest-ack':
        this.interestAcknowledged(workerId, message.seq);
        return;
      case 'usage': {
        const attached = this.workers.get(workerId);
        if (attached) attached.usage = message.usage;
        return;
      }
      case 'request': {
        const request = message.request;
        if (request.kind === 'registry' && request.body.op === 'history-replay') this.replay(workerId, message.id, request.body);
        else if (request.kind === 'registry') this.respond(workerId, message.id, () => this.registryRequest(workerId, request.body));
        else {
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
      }
      case 'listening':
      case 'listen-failed':
        return;
    }
  }

  /**
   * A part of a history read, read when the way to its worker has room (ReplayGate) and never
   * larger than a part. With several nodes the answer is sent from inside the Redis read,
   * before any frame the bus holds back for it; in one machine at once, before any later frame.
   */
  private replay(workerId: number, id: number, body: Extract<RegistryRequest, { op: 'history-replay' }>): void {
    const request = { ...body, maxBytes: Math.min(body.maxBytes ?? REPLAY_MAX_PART_BYTES, REPLAY_MAX_PART_BYTES) };
    const fail = (error: unknown): void => this.send(workerId, failedResponse(id, error));
    const answer = (result: unknown): void => this.send(workerId, { type: 'response', id, ok: true, result });
    try {
      this.replays.admit(workerId, () => {
        if (this.sync) return this.sync.replay(request, answer).catch(fail);
        try {
          if (!this.history) throw new Error('history is off (--history 0)');
          answer(this.history.read(request));
        } catch (error) {
          fail(error);
        }
        return undefined;
      });
    } catch (error) {
      fail(error);
    }
  }

  /** A join's answer carries its roster whole until it is queued towards its worker (outgoing). */
  private shareRoster(app: string | undefined, channel: string, result: PusherJoinResult): RegistryResults['pusher-join'] {
    if (!result.ok || result.presence === undefined) return result;
    const { presence, ...rest } = result;
    return { ...rest, roster: { key: `${app ?? ''}\n${channel}`, json: presence } };
  }

  /**
   * Decided as an answer joins the worker's queue, in the order the worker will read them
   * (answers can be held back for acknowledgments): the roster goes whole only if that worker
   * does not hold it already.
   */
  private outgoing(workerId: number, message: PrimaryMessage): PrimaryMessage {
    if (message.type !== 'response' || !message.ok) return message;
    const result = message.result as { roster?: SharedRoster } | null;
    if (typeof result !== 'object' || result === null || result.roster?.json === undefined) return message;
    return { ...message, result: { ...result, roster: this.rosters.share(workerId, result.roster.key, result.roster.json) } };
  }

  /** fds are unique across workers, and with several nodes across nodes (blocks from Redis). */
  private handOutFds(workerId: number): void {
    if (!this.cluster) {
      this.send(workerId, { type: 'fds', first: this.nextFd, count: FD_BLOCK });
      this.nextFd += FD_BLOCK;
      return;
    }
    const block = this.cluster.takeFds(FD_BLOCK);
    if (block) return this.send(workerId, { type: 'fds', ...block });
    // The reserve is empty and Redis is being asked: try again shortly.
    setTimeout(() => this.handOutFds(workerId), 200).unref();
  }

  private dashboard(): DashboardStats {
    const pusher = this.pusher.summary(10);
    const largest = [
      ...this.registry.largestChannels(10).map((c) => ({ ...c, protocol: 'native' as const })),
      ...pusher.largest.map((c) => ({ channel: c.channel, members: c.members, protocol: 'pusher' as const, app: c.app })),
    ];
    return { ...this.stats(), largestChannels: largest.sort((a, b) => b.members - a.members).slice(0, 10), pusherApps: pusher.apps, at: Date.now() };
  }

  /** Tells every worker whether the server takes new work (GET /ready): not while Redis is away. */
  setReadiness(state: Readiness): void {
    this.readiness = state;
    for (const id of this.workers.keys()) this.send(id, { type: 'readiness', state: this.effectiveReadiness() });
  }

  private effectiveReadiness(): Readiness {
    return this.readiness === 'ready' && this.cluster && !this.cluster.redisUp ? 'redis-down' : this.readiness;
  }

  /**
   * Numbers a channel frame, keeps it, and sends it to every worker with members, the one it
   * came from included: members get a channel's frames in one order, whichever worker sent them.
   */
  private sequence(publication: Publication): number | Promise<number> {
    const channel = publication.topic.slice(3);
    const { keep: _keep, ...rest } = publication;
    if (this.sync) return this.sync.sequence(channel, rest);
    if (!this.history) throw new Error('history is off (--history 0)');
    const { seq, kept } = this.history.append(channel, publication.frame, publication.ackId);
    this.route({ ...rest, frame: withId(kept, publication.ackId), seq }, undefined);
    return seq;
  }

  /** Forwards a publication to every other worker with subscribers of its topic, and with --redis to the other nodes. */
  route(publication: Publication, fromWorker: number | undefined, acrossNodes = true): void {
    for (const workerId of this.topics.workersFor(publication.topic)) {
      if (workerId !== fromWorker) this.send(workerId, { type: 'publish', publication });
    }
    if (acrossNodes) this.cluster?.bus.publish(publication);
  }

  stats(): ServerStats {
    const workers: WorkerStats[] = [...this.workers.values()].map(({ worker, usage }) => ({
      id: worker.id,
      pid: worker.process.pid ?? 0,
      connections: this.registry.connectionsOf(worker.id),
      ...usage,
    }));
    const rss = workers.reduce((sum, w) => sum + w.rss, process.memoryUsage().rss);
    const stats: ServerStats = {
      connections: this.registry.connectionCount,
      channels: this.registry.channelCount,
      rss,
      temporaryTokens: this.registry.tokenCount,
      tasks: this.pool.stats,
      workers,
      ...(this.history ? { history: { ...this.history.counters } } : {}),
      ...(this.config.pusherApps.length > 0 ? { webhooks: { delivered: this.webhooks.delivered, failed: this.webhooks.failed, dropped: this.webhooks.dropped, bytes: this.webhooks.bytes } } : {}),
    };
    const cluster = this.cluster;
    if (!cluster) return stats;
    return { ...stats, node: cluster.id, nodes: cluster.nodes, redis: cluster.redisUp ? 'up' : 'down', cluster: { ...cluster.bus.counters, ...cluster.counters } };
  }

  /** A worker's first message: it listens now, so it gets the topics others hold, then what waited. */
  private greet(workerId: number): void {
    const attached = this.workers.get(workerId);
    if (!attached || attached.greeted) return;
    attached.greeted = true;
    // The worker holds nothing yet, so every topic held anywhere is held elsewhere.
    attached.queue.push({ type: 'interest', topics: [...this.topics.topics()], remote: true });
    if (this.congested) attached.queue.push({ type: 'flow', congested: true });
    attached.queue.push({ type: 'readiness', state: this.effectiveReadiness() });
    for (const message of attached.early) attached.queue.push(this.outgoing(attached.worker.id, message));
    attached.early = [];
  }

  /** Tells the workers whose view changed whether others now hold `topic`. */
  private interestChanged(topic: string, worker: number, added: boolean, others: number[]): void {
    if (this.cluster && others.length === 0) this.nodeInterest(topic, added);
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

  /**
   * This node gained its first member of a topic anywhere, or lost its last: it subscribes to
   * the topic's Redis channel, and the request that made it is answered once Redis confirmed,
   * so a publication made on another node after the answer reaches the new member.
   */
  private nodeInterest(topic: string, added: boolean): void {
    const bus = this.cluster!.bus;
    if (!added) return bus.unsubscribe(topic);
    const seq = this.nextInterest++;
    this.unacknowledged.set(seq, new Set([REDIS_LINK]));
    this.awaitedByRequest?.push(seq);
    void bus.subscribe(topic).finally(() => this.interestAcknowledged(REDIS_LINK, seq));
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
   * Congested while the queue towards some worker is over --ipc-queue-limit, or what waits
   * for Redis is (RedisBus.congested); clear once all are under half of it, so that the state
   * does not flap at the bound.
   */
  checkFlow(): void {
    let largest = 0;
    for (const attached of this.workers.values()) largest = Math.max(largest, attached.queue.queuedBytes);
    const limit = this.config.ipcQueueLimit;
    const towardsWorkers = this.congestedTowardsWorkers ? largest > limit / 2 : largest > limit;
    if (towardsWorkers !== this.congestedTowardsWorkers) {
      this.congestedTowardsWorkers = towardsWorkers;
      this.log.warn({ queuedBytes: largest, limit }, towardsWorkers ? 'queue towards a worker is full: holding off heavy senders' : 'queues between processes drained');
    }
    const congested = towardsWorkers || (this.cluster?.bus.congested ?? false);
    if (congested === this.congested) return;
    this.congested = congested;
    for (const id of this.workers.keys()) this.send(id, { type: 'flow', congested });
  }

  private respond(workerId: number, id: number, compute: () => unknown): void {
    this.awaitedByRequest = [];
    const failed = (error: unknown): PrimaryMessage => {
      if (!(error instanceof ServiceUnavailable)) this.log.error({ err: error }, 'registry request failed');
      return failedResponse(id, error);
    };
    let response: PrimaryMessage | Promise<PrimaryMessage>;
    try {
      const result = compute();
      // With several nodes some answers come from Redis.
      response = result instanceof Promise ? result.then((value: unknown): PrimaryMessage => ({ type: 'response', id, ok: true, result: value }), failed) : { type: 'response', id, ok: true, result };
    } catch (error) {
      response = failed(error);
    }
    const seqs = this.awaitedByRequest;
    this.awaitedByRequest = undefined;
    if (response instanceof Promise) {
      void response.then((settled) => this.answer(workerId, settled, seqs));
      return;
    }
    this.answer(workerId, response, seqs);
  }

  private answer(workerId: number, response: PrimaryMessage, seqs: number[]): void {
    if (!seqs.some((seq) => this.unacknowledged.has(seq))) return this.send(workerId, response);
    this.held.push({ workerId, response, seqs, deadline: Date.now() + INTEREST_ACK_WAIT_MS });
    this.heldTimer ??= setInterval(() => {
      this.releaseHeld();
      if (this.held.length === 0) {
        clearInterval(this.heldTimer);
        this.heldTimer = undefined;
      }
    }, INTEREST_ACK_WAIT_MS).unref();
  }

  private registryRequest(workerId: number, request: RegistryRequest): RegistryResults[keyof RegistryResults] | Promise<RegistryResults[keyof RegistryResults]> {
    const sync = this.sync;
    switch (request.op) {
      case 'join': {
        const result = this.registry.join(request.fd, request.channel);
        if (!result) return null;
        if (sync) {
          const userId = this.registry.userIdOf(request.fd);
          return (async () => {
            if (result.left) await sync.left(result.left);
            await sync.joined(result.joined, userId);
            return null;
          })();
        }
        if (result.left) this.left(result.left, workerId);
        this.announce('channel-connect', result.joined);
        if (result.joined.snapshot.fds.length === 1) this.send(workerId, { type: 'hook', hook: 'channelOccupied', channel: result.joined.channel, protocol: 'native' });
        return null;
      }
      case 'leave': {
        const change = this.registry.leave(request.fd);
        if (change && sync) return sync.left(change).then(() => null);
        if (change) this.left(change, workerId);
        return null;
      }
      case 'assoc': {
        this.registry.assoc(request.fd, request.userId);
        const channel = this.registry.channelOf(request.fd);
        if (sync && channel !== null) sync.assoc(request.fd, channel, request.userId);
        return null;
      }
      case 'mint-token': {
        const minted = this.registry.mintToken(request.channel, this.config.tempTokenTtl * 1000, this.config.tempTokenMax);
        if (!sync || !('token' in minted)) return minted;
        return sync.putToken(minted.token, request.channel, this.config.tempTokenTtl).then(() => minted);
      }
      case 'admit-token':
        return sync ? sync.admitToken(request.token) : this.registry.admitToken(request.token);
      case 'consume-token':
        return sync ? sync.consumeToken(request.token, request.channel) : this.registry.consumeToken(request.token, request.channel);
      case 'has-members':
        return sync ? sync.hasMembers(request.channel) : this.registry.hasMembers(request.channel);
      case 'admit-address':
        return sync ? sync.admitAddress(request.address, request.limit) : this.registry.admitAddress(request.address, request.limit);
      case 'stats':
        return this.stats();
      case 'pusher-open': {
        if (!sync || request.maxConnections === 0) return this.pusher.open(request.fd, workerId, request.app, request.maxConnections);
        // Counted here at once, so that what the socket asks next finds it; the whole server's count decides.
        this.pusher.open(request.fd, workerId, request.app, 0);
        return sync.pusherOpen(request.app, request.maxConnections).then((admitted) => {
          if (!admitted) this.pusher.close(request.fd, true);
          return admitted;
        });
      }
      case 'pusher-join': {
        const { fd, channel, member, maxMembers } = request;
        const app = this.pusher.appOf(fd);
        if (!sync) return this.shareRoster(app, channel, this.pusher.join(fd, channel, member, maxMembers));
        if (app === undefined) return { ok: true };
        return (async (): Promise<RegistryResults['pusher-join']> => {
          if (member && (await sync.presenceFull(app, channel, member.id, maxMembers))) return { ok: false, reason: 'full' };
          const local = this.pusher.join(fd, channel, member, maxMembers);
          if (!local.ok) return local;
          const { presence, cached } = local;
          return this.shareRoster(app, channel, { ok: true, ...(await sync.joinExtras(app, channel, { ...(presence ? { presence } : {}), ...(cached !== undefined ? { cached } : {}) })) });
        })();
      }
      case 'pusher-leave': {
        const app = this.pusher.appOf(request.fd);
        this.pusher.leave(request.fd, request.channel);
        return sync && app !== undefined ? sync.channelSettled(app, request.channel).then(() => null) : null;
      }
      case 'pusher-signin':
        this.pusher.signin(request.fd, request.userId);
        return null;
      case 'pusher-channels':
        return sync ? sync.channels(request.app, request.prefix, request.userCount) : this.pusher.channels(request.app, request.prefix, request.userCount);
      case 'pusher-channel':
        return sync ? sync.channel(request.app, request.channel) : this.pusher.channel(request.app, request.channel);
      case 'pusher-users':
        return sync ? sync.users(request.app, request.channel) : this.pusher.userIds(request.app, request.channel);
      case 'pusher-terminate':
        for (const id of this.workers.keys()) this.send(id, { type: 'pusher-terminate', app: request.app, userId: request.userId });
        this.cluster?.bus.control({ op: 'pusher-terminate', app: request.app, userId: request.userId });
        return null;
      case 'dashboard':
        return this.dashboard();
      case 'group-join':
        this.groups.join(request.fd, workerId, request.topic);
        return null;
      case 'group-leave':
        this.groups.leave(request.fd, request.topic);
        return null;
      case 'history-replay':
        throw new Error('history reads take their turn in the replay gate');
      case 'history-publish': {
        const seq = this.sequence({ topic: channelTopic(request.channel), frame: request.frame, ...(request.ackId !== undefined ? { ackId: request.ackId } : {}) });
        return seq instanceof Promise ? seq.then((n) => ({ seq: n })) : { seq };
      }
    }
  }

  /** Member events go to the channel's other subscribers on every worker; the rest to the app's webhooks. */
  private pusherChanged(change: PusherChange): void {
    if (this.sync) return this.sync.pusherChanged(change);
    switch (change.kind) {
      case 'count':
      case 'closed':
        return;
      case 'webhook':
        this.webhooks.add(change.app, change.event);
        if (change.worker !== undefined && (change.event.name === 'channel_occupied' || change.event.name === 'channel_vacated')) {
          const hook = change.event.name === 'channel_occupied' ? 'channelOccupied' : 'channelVacated';
          this.send(change.worker, { type: 'hook', hook, channel: change.event.channel, protocol: 'pusher', app: change.app });
        }
        return;
      case 'member-added':
        this.route({ topic: pusherTopic(change.app, change.channel), frame: memberAddedFrame(change.channel, change.member), except: change.fd }, undefined);
        return;
      case 'member-removed':
        this.route({ topic: pusherTopic(change.app, change.channel), frame: memberRemovedFrame(change.channel, change.userId) }, undefined);
        return;
    }
  }

  /** A socket left a native channel: presence, and the vacated hook when it was the last. */
  private left(change: MembershipChange, workerId: number): void {
    if (this.sync) {
      void this.sync.left(change);
      return;
    }
    this.announce('channel-disconnect', change);
    if (change.snapshot.fds.length === 0) this.send(workerId, { type: 'hook', hook: 'channelVacated', channel: change.channel, protocol: 'native' });
  }

  /** Publishes a presence change to the channel's members on every worker. */
  private announce(action: 'channel-connect' | 'channel-disconnect', change: MembershipChange): void {
    if (!this.config.presence || (change.snapshot.count ?? change.snapshot.fds.length) === 0) return;
    const ackId = this.config.ack ? `p-${this.cluster ? `${this.cluster.id}-` : ''}${(this.nextAckId++).toString(36)}` : undefined;
    const limits = { maxMembers: this.config.presenceMaxMembers, maxBytes: this.config.presenceMaxBytes };
    const frame = presenceFrame(action, change.fd, change.channel, change.snapshot, limits, ackId);
    this.route({ topic: channelTopic(change.channel), frame, ...(ackId ? { ackId } : {}) }, undefined);
  }
}
