import { HttpErrors, ServiceUnavailable } from '../errors.js';

/**
 * History reads (a rejoin's replay, GET /conveyor/history) take their turn per worker: a part
 * is read only while the queue towards its worker, with the parts being read, stays under a
 * byte bound. A reconnect storm of hundreds of replays is then served a few parts at a time,
 * and everything else the primary tells that worker (answers, presence, publications) waits
 * behind a few MB at most instead of behind every replay at once.
 */
export class ReplayGate {
  private readonly waiting = new Map<number, (() => void)[]>();
  /** Reads started and not yet queued towards their worker, each counted as a full part. */
  private readonly reading = new Map<number, number>();
  /** Reads refused since start: more were waiting than the bound. */
  refused = 0;

  constructor(
    private readonly queuedBytes: (worker: number) => number,
    private readonly partBytes: number,
    private readonly maxBytes: number,
    private readonly maxWaiting: number,
  ) {}

  /** How many reads wait now, across workers. */
  get waitingCount(): number {
    let count = 0;
    for (const queue of this.waiting.values()) count += queue.length;
    return count;
  }

  /**
   * Runs `read` once the way to `worker` has room; `read` resolves once its answer is queued.
   * Throws ServiceUnavailable when too many wait already: the reader is told to come back.
   */
  admit(worker: number, read: () => Promise<void> | void): void {
    const queue = this.waiting.get(worker);
    if (!queue && this.hasRoom(worker)) return this.start(worker, read);
    if (queue && queue.length >= this.maxWaiting) {
      this.refused++;
      throw new ServiceUnavailable(HttpErrors.historyBusy);
    }
    if (queue) queue.push(read);
    else this.waiting.set(worker, [read]);
  }

  /** The queue towards `worker` shrank: reads waiting for it may start. */
  drained(worker: number): void {
    const queue = this.waiting.get(worker);
    while (queue && queue.length > 0 && this.hasRoom(worker)) this.start(worker, queue.shift()!);
    if (queue?.length === 0) this.waiting.delete(worker);
  }

  /** A worker is gone: what waited for it is answered by no one. */
  dropWorker(worker: number): void {
    this.waiting.delete(worker);
    this.reading.delete(worker);
  }

  private hasRoom(worker: number): boolean {
    return this.queuedBytes(worker) + (this.reading.get(worker) ?? 0) * this.partBytes < this.maxBytes;
  }

  private start(worker: number, read: () => Promise<void> | void): void {
    let result: Promise<void> | void;
    try {
      result = read();
    } catch {
      result = undefined;
    }
    if (!(result instanceof Promise)) return;
    this.reading.set(worker, (this.reading.get(worker) ?? 0) + 1);
    void result
      .catch(() => {})
      .finally(() => {
        const left = (this.reading.get(worker) ?? 1) - 1;
        if (left > 0) this.reading.set(worker, left);
        else this.reading.delete(worker);
        this.drained(worker);
      });
  }
}
