import type { PrimaryMessage } from '../ipc/messages.js';
import type { Engine } from '../registry/engine.js';

/** Longest an answer waits for workers to acknowledge a change of interest (a stuck worker must not stall joins). */
const INTEREST_ACK_WAIT_MS = 1000;

/** Stands for the other nodes among those that acknowledge a change of interest: the node's subscription to a topic. */
const OTHER_NODES = -1;

/** The workers as the interest tracker needs them. */
export interface InterestWorkers {
  /** Workers that listen now (a worker not greeted yet learns every topic at its greeting). */
  greeted(): number[];
  send(worker: number, message: PrimaryMessage): void;
}

/**
 * Which workers know that others hold a topic. A worker publishes across only to topics
 * others hold, so a request that made a new holder is answered only once every worker told
 * (and with several nodes, the other nodes' link) has acknowledged: a publication made
 * anywhere after the answer then finds its way to the new member.
 */
export class Interest {
  /** Interest changes sent and not yet acknowledged by every worker told, by sequence. */
  private readonly unacknowledged = new Map<number, Set<number>>();
  private nextSeq = 0;
  /** The changes made by the request being computed now. */
  private collecting: number[] | undefined;
  /** Answers that wait for acknowledgments (or their deadline). */
  private held: { worker: number; response: PrimaryMessage; seqs: number[]; deadline: number }[] = [];
  private heldTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly workers: InterestWorkers,
    private readonly engine: Pick<Engine, 'nodeInterest'>,
  ) {}

  /** Tells the workers whose view changed whether others now hold `topic` (TopicWorkers' listener). */
  changed(topic: string, worker: number, added: boolean, others: number[]): void {
    if (others.length === 0) this.nodeChanged(topic, added);
    // Only a worker that was alone, or all of them when the first holder came or the last went, changes its view.
    const greeted = others.length <= 1 ? this.workers.greeted() : [];
    const told = others.length === 1 ? others.filter((id) => greeted.includes(id)) : greeted.filter((id) => id !== worker);
    if (told.length === 0) return;
    if (!added) {
      // A worker told late that no one else holds a topic only sends one publication too many.
      for (const id of told) this.workers.send(id, { type: 'interest', topics: [topic], remote: false });
      return;
    }
    const seq = this.awaiting(new Set(told));
    for (const id of told) this.workers.send(id, { type: 'interest', topics: [topic], remote: true, seq });
  }

  /** This node gained its first member of a topic anywhere, or lost its last. */
  private nodeChanged(topic: string, added: boolean): void {
    const confirmed = this.engine.nodeInterest(topic, added);
    if (!confirmed) return;
    const seq = this.awaiting(new Set([OTHER_NODES]));
    void confirmed.finally(() => this.acknowledged(OTHER_NODES, seq));
  }

  private awaiting(from: Set<number>): number {
    const seq = this.nextSeq++;
    this.unacknowledged.set(seq, from);
    this.collecting?.push(seq);
    return seq;
  }

  /** Runs `compute`, and gives the interest changes it made with its value: its answer waits for them. */
  collect<T>(compute: () => T): { value: T; seqs: number[] } {
    const seqs: number[] = (this.collecting = []);
    try {
      return { value: compute(), seqs };
    } finally {
      this.collecting = undefined;
    }
  }

  /** A worker took in a change of interest: answers held for it may go now. */
  acknowledged(worker: number, seq: number): void {
    const waiting = this.unacknowledged.get(seq);
    waiting?.delete(worker);
    if (waiting?.size === 0) this.unacknowledged.delete(seq);
    this.release();
  }

  /** A worker that is gone acknowledges nothing: answers waiting on it go now. */
  workerGone(worker: number): void {
    for (const [seq, waiting] of this.unacknowledged) {
      waiting.delete(worker);
      if (waiting.size === 0) this.unacknowledged.delete(seq);
    }
    this.release();
  }

  /** Sends `response` once the changes `seqs` are acknowledged, or after INTEREST_ACK_WAIT_MS. */
  answer(worker: number, response: PrimaryMessage, seqs: number[]): void {
    if (!seqs.some((seq) => this.unacknowledged.has(seq))) return this.workers.send(worker, response);
    this.held.push({ worker, response, seqs, deadline: Date.now() + INTEREST_ACK_WAIT_MS });
    this.heldTimer ??= setInterval(() => {
      this.release();
      if (this.held.length === 0) {
        clearInterval(this.heldTimer);
        this.heldTimer = undefined;
      }
    }, INTEREST_ACK_WAIT_MS).unref();
  }

  private release(): void {
    this.held = this.held.filter((held) => {
      if (held.seqs.some((seq) => this.unacknowledged.has(seq)) && Date.now() < held.deadline) return true;
      this.workers.send(held.worker, held.response);
      return false;
    });
  }
}
