import type { Batch } from './messages.js';

/** Bytes counted for a message that carries no frame (a request, a count). */
export const SMALL_MESSAGE_BYTES = 64;

/**
 * Collects messages and sends them as one IPC message per event-loop turn: a single
 * `process.send` costs about as much as a batch of dozens, so per-frame sends would make
 * the cluster channel the bottleneck. It counts the bytes it holds, queued or written but
 * not yet taken by the channel, so that the sender can stop feeding a link that backs up.
 */
export class BatchQueue<M> {
  private pending: M[] = [];
  private pendingBytes = 0;
  private inFlightBytes = 0;
  private scheduled = false;

  /**
   * `sendBatch` hands a batch to the channel and calls `written` once the channel took it
   * (or failed to); `sizeOf` estimates a message's serialised size.
   */
  constructor(
    private readonly sendBatch: (batch: Batch<M>, written: () => void) => void,
    private readonly sizeOf: (message: M) => number = () => SMALL_MESSAGE_BYTES,
  ) {}

  /** Bytes queued here or in the channel's write buffer. */
  get queuedBytes(): number {
    return this.pendingBytes + this.inFlightBytes;
  }

  push(message: M): void {
    this.pending.push(message);
    this.pendingBytes += this.sizeOf(message);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Sends what is queued now (also called by the turn's scheduled flush). */
  readonly flush = (): void => {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const messages = this.pending;
    const bytes = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    this.inFlightBytes += bytes;
    let done = false;
    this.sendBatch({ conveyor: 1, messages }, () => {
      if (done) return;
      done = true;
      this.inFlightBytes -= bytes;
    });
  };
}

export function isBatch<M>(value: unknown): value is Batch<M> {
  return typeof value === 'object' && value !== null && (value as { conveyor?: unknown }).conveyor === 1;
}
