import type { Logger } from '../log.js';

interface PendingMessage {
  frame: string;
  /** Recipients that have not acknowledged yet. */
  fds: Set<number>;
  resends: number;
}

export interface AckTrackerOptions {
  attempts: number;
  intervalMs: number;
  /** Re-sends a frame to one socket; false when that socket is gone. */
  resend(fd: number, frame: string): boolean;
  /** Waits one interval (a timer task in the pool). */
  wait(delayMs: number): Promise<unknown>;
  log: Logger;
}

/**
 * Pending acknowledgments of this worker, per recipient. One timer per message (never per
 * recipient); a timer that fires for a message everyone acknowledged finds nothing to do.
 */
export class AckTracker {
  private readonly pending = new Map<string, PendingMessage>();
  private readonly bySocket = new Map<number, Set<string>>();
  /** Deliveries given up after the last re-send, for metrics. */
  givenUp = 0;

  constructor(private readonly options: AckTrackerOptions) {}

  get size(): number {
    return this.pending.size;
  }

  track(id: string, frame: string, fds: Iterable<number>): void {
    let message = this.pending.get(id);
    if (!message) {
      message = { frame, fds: new Set(), resends: 0 };
      this.pending.set(id, message);
      this.schedule(id);
    }
    for (const fd of fds) {
      message.fds.add(fd);
      let ids = this.bySocket.get(fd);
      if (!ids) this.bySocket.set(fd, (ids = new Set()));
      ids.add(id);
    }
    if (message.fds.size === 0) this.pending.delete(id);
  }

  acknowledge(fd: number, id: string): void {
    const message = this.pending.get(id);
    if (message) {
      message.fds.delete(fd);
      if (message.fds.size === 0) this.pending.delete(id);
    }
    this.bySocket.get(fd)?.delete(id);
  }

  /** A socket closed: stop re-sending to it. */
  forget(fd: number): void {
    const ids = this.bySocket.get(fd);
    if (!ids) return;
    this.bySocket.delete(fd);
    for (const id of ids) {
      const message = this.pending.get(id);
      if (!message) continue;
      message.fds.delete(fd);
      if (message.fds.size === 0) this.pending.delete(id);
    }
  }

  private schedule(id: string): void {
    this.options.wait(this.options.intervalMs).then(
      () => this.fire(id),
      (error: unknown) => {
        // The pool failed: keep the promise of re-sends with a local timer rather than drop it.
        this.options.log.error({ err: error, id }, 'ack timer task failed; using a local timer');
        setTimeout(() => this.fire(id), this.options.intervalMs).unref();
      },
    );
  }

  private fire(id: string): void {
    const message = this.pending.get(id);
    if (!message) return;
    if (message.resends >= this.options.attempts) {
      this.givenUp += message.fds.size;
      this.options.log.debug({ id, recipients: message.fds.size }, 'acknowledgment given up');
      this.pending.delete(id);
      for (const fd of message.fds) this.bySocket.get(fd)?.delete(id);
      return;
    }
    message.resends++;
    for (const fd of message.fds) {
      if (!this.options.resend(fd, message.frame)) this.forget(fd);
    }
    if (this.pending.has(id)) this.schedule(id);
  }
}
