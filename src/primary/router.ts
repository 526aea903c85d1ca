import type { Worker } from 'node:cluster';
import type { Publication } from '../bus/bus.js';
import type { ServerConfig } from '../config.js';
import { ServiceUnavailable } from '../errors.js';
import { failedResponse, perform } from './engine-call.js';
import { REPLAY_MAX_PART_BYTES } from '../history/sequenced-frame.js';
import { BatchQueue, MAX_WRITING_BYTES } from '../ipc/batch-queue.js';
import { messageSize } from '../ipc/message-size.js';
import type { PrimaryMessage, Readiness, Request, WorkerMessage, WorkerUsage } from '../ipc/messages.js';
import { RosterSender } from '../ipc/roster-share.js';
import type { Logger } from '../log.js';
import type { Engine, RegistryCall, Roster } from '../registry/engine.js';
import type { TopicWorkers } from '../registry/topic-workers.js';
import { channelOfTopic } from '../topics.js';
import type { Announcer, Switchboard } from './announcer.js';
import { Interest } from './interest.js';
import { ReplayGate } from './replay-gate.js';
import type { ServerNumbers } from './server-stats.js';
import type { TaskPool } from './task-pool.js';

interface Attached {
  readonly worker: Worker;
  readonly queue: BatchQueue<PrimaryMessage>;
  /** False until the worker's first message: it may not be listening to the channel before. */
  greeted: boolean;
  /** What was sent before the greeting, delivered right after it. */
  early: PrimaryMessage[];
  usage: WorkerUsage;
}

/** History reads that may wait for their turn per worker before more are refused (503, an error frame). */
const MAX_WAITING_REPLAYS = 20_000;

/** fds are handed out in blocks so that a worker numbers its sockets without asking each time. */
export const FD_BLOCK = 4096;

const EMPTY_USAGE: WorkerUsage = { rss: 0, slowConsumersClosed: 0, slowConsumersDropping: 0, framesReceived: 0, framesPublished: 0, ackPending: 0, ackGivenUp: 0, ackOverflowClosed: 0, ipcQueuedBytes: 0, ipcRefused: 0, pusherConnections: 0 };

/**
 * The primary's switchboard: relays publications to the workers that have subscribers,
 * hands each registry request to the engine and its answer back, and holds off heavy
 * senders while its queue towards one worker is full. It never touches a single recipient:
 * workers deliver through their uWS topics.
 */
export class Router implements Switchboard {
  private readonly workers = new Map<number, Attached>();
  private congested = false;
  private congestedTowardsWorkers = false;
  private readiness: Readiness = 'starting';
  private readonly interest: Interest;
  private readonly rosters = new RosterSender();
  private readonly replays = new ReplayGate((worker) => this.workers.get(worker)?.queue.queuedBytes ?? 0, REPLAY_MAX_PART_BYTES, MAX_WRITING_BYTES, MAX_WAITING_REPLAYS);

  constructor(
    private readonly config: ServerConfig,
    private readonly engine: Engine,
    /** Which workers hold which topics (the engine's registries count into it). */
    private readonly topics: TopicWorkers,
    private readonly pool: TaskPool,
    private readonly numbers: ServerNumbers,
    private readonly announcer: Announcer,
    private readonly log: Logger,
  ) {
    this.interest = new Interest({ greeted: () => [...this.workers.values()].filter((w) => w.greeted).map((w) => w.worker.id), send: (id, message) => this.send(id, message) }, engine);
    topics.onChange = (topic, worker, added, others) => this.interest.changed(topic, worker, added, others);
    announcer.attach(this, engine.nodeId);
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

  /** Forgets a worker that exited; its sockets leave what they were in. */
  detach(workerId: number): void {
    this.workers.delete(workerId);
    this.replays.dropWorker(workerId);
    this.rosters.dropWorker(workerId);
    this.interest.workerGone(workerId);
    this.engine.dropWorker(workerId);
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

  toOneWorker(worker: number | undefined, message: PrimaryMessage): void {
    const target = worker !== undefined && this.workers.has(worker) ? worker : this.workers.keys().next().value;
    if (target !== undefined) this.send(target, message);
  }

  toEveryWorker(message: PrimaryMessage): void {
    for (const id of this.workers.keys()) this.send(id, message);
  }

  handle(workerId: number, message: WorkerMessage): void {
    this.greet(workerId);
    switch (message.type) {
      case 'publish': {
        const { publication } = message;
        if (!publication.keep) return this.route(publication, workerId);
        // Numbered and kept before anyone gets it, at once: what the worker sent after it comes after it.
        try {
          const seq = this.engine.historyPublish(workerId, channelOfTopic(publication.topic), publication.frame, publication.ackId, publication.except);
          if (seq instanceof Promise) seq.catch(() => {});
        } catch (error) {
          this.log.error({ err: error }, 'a kept frame could not be numbered');
        }
        return;
      }
      case 'registry':
        try {
          perform(this.engine, workerId, message.call);
        } catch (error) {
          this.log.error({ err: error, op: message.call.op }, 'registry operation failed');
        }
        return;
      case 'pusher-client-event':
        this.announcer.clientEvent(message.app, message.channel, message.event, message.data, message.socketId, message.userId);
        return;
      case 'need-fds':
        return this.handOutFds(workerId);
      case 'interest-ack':
        return this.interest.acknowledged(workerId, message.seq);
      case 'usage': {
        const attached = this.workers.get(workerId);
        if (attached) attached.usage = message.usage;
        return;
      }
      case 'request':
        return this.request(workerId, message.id, message.request);
      case 'listening':
      case 'listen-failed':
        return;
    }
  }

  private request(workerId: number, id: number, request: Request): void {
    switch (request.kind) {
      case 'registry':
        if (request.call.op === 'historyReplay') return this.replay(workerId, id, request.call);
        return this.respond(workerId, id, () => perform(this.engine, workerId, request.call));
      case 'stats': {
        const workers = [...this.workers.values()].map(({ worker, usage }) => ({ id: worker.id, pid: worker.process.pid ?? 0, usage }));
        return this.respond(workerId, id, () => (request.view === 'stats' ? this.numbers.stats(workers) : this.numbers.dashboard(workers)));
      }
      case 'task':
        this.pool.run(request.body).then(
          (result) => this.send(workerId, { type: 'response', id, ok: true, result }),
          (error: unknown) => {
            this.log.error({ err: error, task: request.body.name }, 'task failed');
            this.send(workerId, { type: 'response', id, ok: false, error: String(error) });
          },
        );
    }
  }

  /** A part of a history read, read when the way to its worker has room (ReplayGate), never larger than a part. */
  private replay(workerId: number, id: number, call: Extract<RegistryCall, { op: 'historyReplay' }>): void {
    const [asked] = call.args;
    const request = { ...asked, maxBytes: Math.min(asked.maxBytes ?? REPLAY_MAX_PART_BYTES, REPLAY_MAX_PART_BYTES) };
    const fail = (error: unknown): void => this.send(workerId, failedResponse(id, error));
    const answer = (result: unknown): void => this.send(workerId, { type: 'response', id, ok: true, result });
    try {
      this.replays.admit(workerId, () => {
        try {
          const replay = this.engine.historyReplay(workerId, request);
          if (replay instanceof Promise) return replay.then(answer, fail);
          answer(replay);
        } catch (error) {
          fail(error);
        }
        return undefined;
      });
    } catch (error) {
      fail(error);
    }
  }

  /**
   * Decided as an answer joins the worker's queue, in the order the worker will read them
   * (answers can be held back for acknowledgments): a roster goes whole only if that worker
   * does not hold it already.
   */
  private outgoing(workerId: number, message: PrimaryMessage): PrimaryMessage {
    if (message.type !== 'response' || !message.ok) return message;
    const result = message.result as { roster?: Roster } | null;
    if (typeof result !== 'object' || result === null || result.roster?.json === undefined) return message;
    return { ...message, result: { ...result, roster: this.rosters.share(workerId, result.roster.key, result.roster.json) } };
  }

  /** fds are unique across workers (and nodes): when the engine has none at hand, ask again shortly. */
  private handOutFds(workerId: number): void {
    const block = this.engine.takeFds(FD_BLOCK);
    if (block) return this.send(workerId, { type: 'fds', ...block });
    setTimeout(() => this.handOutFds(workerId), 200).unref();
  }

  /** Tells every worker whether the server takes new work (GET /ready): not while the engine is unavailable. */
  setReadiness(state: Readiness): void {
    this.readiness = state;
    this.refreshReadiness();
  }

  refreshReadiness(): void {
    for (const id of this.workers.keys()) this.send(id, { type: 'readiness', state: this.effectiveReadiness() });
  }

  private effectiveReadiness(): Readiness {
    return this.readiness === 'ready' && !this.engine.available ? 'redis-down' : this.readiness;
  }

  /** Forwards a publication to every other worker with subscribers of its topic, and across nodes unless told not to. */
  route(publication: Publication, fromWorker: number | undefined, acrossNodes = true): void {
    for (const workerId of this.topics.workersFor(publication.topic)) {
      if (workerId !== fromWorker) this.send(workerId, { type: 'publish', publication });
    }
    if (acrossNodes) this.engine.publishAcross(publication);
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

  /**
   * Congested while the queue towards some worker is over --ipc-queue-limit, or what waits to
   * cross to other nodes is; clear once all are under half of it, so that the state does not
   * flap at the bound.
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
    const congested = towardsWorkers || this.engine.congested;
    if (congested === this.congested) return;
    this.congested = congested;
    this.toEveryWorker({ type: 'flow', congested });
  }

  private respond(workerId: number, id: number, compute: () => unknown): void {
    const failed = (error: unknown): PrimaryMessage => {
      if (!(error instanceof ServiceUnavailable)) this.log.error({ err: error }, 'registry request failed');
      return failedResponse(id, error);
    };
    const { value: response, seqs } = this.interest.collect((): PrimaryMessage | Promise<PrimaryMessage> => {
      try {
        const result = compute();
        return result instanceof Promise ? result.then((value: unknown): PrimaryMessage => ({ type: 'response', id, ok: true, result: value }), failed) : { type: 'response', id, ok: true, result };
      } catch (error) {
        return failed(error);
      }
    });
    if (response instanceof Promise) void response.then((settled) => this.interest.answer(workerId, settled, seqs));
    else this.interest.answer(workerId, response, seqs);
  }
}
