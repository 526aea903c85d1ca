import type { Logger } from '../log.js';

interface PendingMessage {
  readonly id: string;
  readonly frame: string;
  /** Recipients that have not acknowledged yet. */
  readonly fds: Set<number>;
  resends: number;
  /** When the next re-send (or the give-up) is due, in ms of the tracker's clock. */
  due: number;
  /** False once every recipient acknowledged or left: its queue slot is skipped. */
  live: boolean;
}

interface SocketAcks {
  ids: Set<string>;
  /** Bytes of the frames this socket has not acknowledged (shared frames counted per socket). */
  bytes: number;
}

export interface AckTrackerOptions {
  attempts: number;
  intervalMs: number;
  /** Unacknowledged messages one socket may have; past either bound `overflow` is called. */
  maxPendingPerSocket: number;
  maxPendingBytesPerSocket: number;
  /** Re-sends a frame to one socket; false when that socket is gone. */
  resend(fd: number, frame: string): boolean;
  /** A socket passed its bound: it is no longer tracked, and the server closes it. */
  overflow(fd: number): void;
  /** One tick of the clock: resolves after about `delayMs` (a task in the pool). */
  wait(delayMs: number): Promise<unknown>;
  log: Logger;
  now?: () => number;
}

/**
 * Pending acknowledgments of this worker, per recipient. Every message waits the same
 * interval, so the queue of pending messages is already ordered by due time: one clock
 * tick (a single task in the pool, never one per message) re-sends whatever is due at its
 * front. What a socket may leave unacknowledged is bounded in count and bytes.
 */
export class AckTracker {
  private readonly pending = new Map<string, PendingMessage>();
  private readonly bySocket = new Map<number, SocketAcks>();
  /** Pending messages in due order; slots of finished ones are skipped when reached. */
  private queue: PendingMessage[] = [];
  private head = 0;
  private ticking = false;
  private readonly now: () => number;
  /** The shortest wait of one tick: due times closer together than this share a tick. */
  private readonly granularityMs: number;
  /** Deliveries given up after the last re-send, for metrics. */
  givenUp = 0;
  /** Sockets closed for leaving too much unacknowledged, for metrics. */
  overflowed = 0;

  constructor(private readonly options: AckTrackerOptions) {
    this.now = options.now ?? Date.now;
    this.granularityMs = Math.max(5, options.intervalMs / 4);
  }

  /** Messages waiting for at least one acknowledgment. */
  get size(): number {
    return this.pending.size;
  }

  track(id: string, frame: string, fds: Iterable<number>): void {
    let message = this.pending.get(id);
    if (!message) {
      message = { id, frame, fds: new Set(), resends: 0, due: this.now() + this.options.intervalMs, live: true };
    }
    for (const fd of fds) {
      let acks = this.bySocket.get(fd);
      if (!acks) this.bySocket.set(fd, (acks = { ids: new Set(), bytes: 0 }));
      if (acks.ids.has(id)) continue;
      if (acks.ids.size >= this.options.maxPendingPerSocket || acks.bytes + frame.length > this.options.maxPendingBytesPerSocket) {
        this.overflowed++;
        this.forget(fd);
        this.options.overflow(fd);
        continue;
      }
      acks.ids.add(id);
      acks.bytes += frame.length;
      message.fds.add(fd);
    }
    if (message.fds.size === 0 || this.pending.has(id)) return;
    this.pending.set(id, message);
    this.queue.push(message);
    this.tick();
  }

  acknowledge(fd: number, id: string): void {
    const message = this.pending.get(id);
    if (!message || !message.fds.delete(fd)) return;
    this.release(fd, message);
    if (message.fds.size === 0) this.finish(message);
  }

  /** A socket closed: stop re-sending to it. */
  forget(fd: number): void {
    const acks = this.bySocket.get(fd);
    if (!acks) return;
    this.bySocket.delete(fd);
    for (const id of acks.ids) {
      const message = this.pending.get(id);
      if (!message) continue;
      message.fds.delete(fd);
      if (message.fds.size === 0) this.finish(message);
    }
  }

  private release(fd: number, message: PendingMessage): void {
    const acks = this.bySocket.get(fd);
    if (!acks || !acks.ids.delete(message.id)) return;
    acks.bytes -= message.frame.length;
    if (acks.ids.size === 0) this.bySocket.delete(fd);
  }

  private finish(message: PendingMessage): void {
    message.live = false;
    this.pending.delete(message.id);
  }

  /** Starts the clock when something waits and no tick is under way. */
  private tick(): void {
    if (this.ticking) return;
    const next = this.front();
    if (!next) return;
    this.ticking = true;
    const delay = Math.max(this.granularityMs, next.due - this.now());
    this.options.wait(delay).then(
      () => this.fire(),
      (error: unknown) => {
        // The pool failed: keep the promise of re-sends with a local timer rather than drop it.
        this.options.log.error({ err: error }, 'ack clock task failed; using a local timer');
        setTimeout(() => this.fire(), delay).unref();
      },
    );
  }

  /** The first live message of the queue, dropping finished ones before it. */
  private front(): PendingMessage | undefined {
    while (this.head < this.queue.length && !this.queue[this.head]!.live) this.head++;
    if (this.head >= this.queue.length) {
      this.queue = [];
      this.head = 0;
      return undefined;
    }
    // Compact now and then so the array does not keep every message ever queued.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return this.queue[this.head];
  }

  private fire(): void {
    this.ticking = false;
    // Due within half a tick counts as due now: waiting another whole tick would be later still.
    const horizon = this.now() + this.granularityMs / 2;
    const requeue: PendingMessage[] = [];
    for (let message = this.front(); message && message.due <= horizon; message = this.front()) {
      this.head++;
      if (message.resends >= this.options.attempts) {
        this.givenUp += message.fds.size;
        this.options.log.debug({ id: message.id, recipients: message.fds.size }, 'acknowledgment given up');
        for (const fd of message.fds) this.release(fd, message);
        message.fds.clear();
        this.finish(message);
        continue;
      }
      message.resends++;
      for (const fd of [...message.fds]) {
        if (!this.options.resend(fd, message.frame)) this.forget(fd);
      }
      if (message.live) requeue.push(message);
    }
    const due = this.now() + this.options.intervalMs;
    for (const message of requeue) {
      message.due = due;
      this.queue.push(message);
    }
    this.tick();
  }
}
