import type { Batch } from './messages.js';
import { SMALL_MESSAGE_BYTES } from './message-size.js';

/**
 * Largest batch sent as one IPC message: a batch is serialised into one string, and one turn
 * of a reconnect storm (hundreds of replays) once made a string past V8's limit and killed
 * the primary. A message larger than this goes alone.
 */
export const PIECE_BYTES = 1024 * 1024;

/**
 * Bytes handed to the channel and not yet written: past it the rest waits here as the objects
 * it is, which share their frames with whoever made them, instead of as serialised copies in
 * the channel's write buffer.
 */
export const MAX_WRITING_BYTES = 4 * PIECE_BYTES;

/**
 * Collects messages and sends them as one IPC message per event-loop turn: a single
 * `process.send` costs about as much as a batch of dozens, so per-frame sends would make
 * the cluster channel the bottleneck. A turn's messages go in pieces of at most PIECE_BYTES,
 * and only while the channel has less than MAX_WRITING_BYTES to write. It counts the bytes it
 * holds, queued or written but not yet taken by the channel, so that the sender can stop
 * feeding a link that backs up.
 */
export class BatchQueue<M> {
  private pending: M[] = [];
  private sizes: number[] = [];
  /** The first message of `pending` not sent yet. */
  private head = 0;
  private pendingBytes = 0;
  private writingBytes = 0;
  private scheduled = false;

  /**
   * `sendBatch` hands a batch to the channel and calls `written` once the channel took it
   * (or failed to); `sizeOf` tells a message's serialised size.
   */
  constructor(
    private readonly sendBatch: (batch: Batch<M>, written: () => void) => void,
    private readonly sizeOf: (message: M) => number = () => SMALL_MESSAGE_BYTES,
  ) {}

  /** Bytes queued here or in the channel's write buffer. */
  get queuedBytes(): number {
    return this.pendingBytes + this.writingBytes;
  }

  push(message: M): void {
    const size = this.sizeOf(message);
    this.pending.push(message);
    this.sizes.push(size);
    this.pendingBytes += size;
    this.schedule();
  }

  /** Sends what is queued now, every piece of it when `all` (before exiting); also the turn's scheduled flush. */
  readonly flush = (all = false): void => {
    this.scheduled = false;
    const pending = this.pending;
    while (this.head < pending.length && (all === true || this.writingBytes < MAX_WRITING_BYTES)) {
      const start = this.head;
      let bytes = this.sizes[start]!;
      let end = start + 1;
      while (end < pending.length && bytes + this.sizes[end]! <= PIECE_BYTES) bytes += this.sizes[end++]!;
      this.head = end;
      // The common turn is one small piece: the array itself goes, uncopied.
      const messages = start === 0 && end === pending.length ? pending : pending.slice(start, end);
      this.pendingBytes -= bytes;
      this.writingBytes += bytes;
      let done = false;
      this.sendBatch({ conveyor: 1, messages }, () => {
        if (done) return;
        done = true;
        this.writingBytes -= bytes;
        if (this.head < this.pending.length) this.schedule();
      });
    }
    if (this.head === this.pending.length) {
      this.pending = [];
      this.sizes = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.head);
      this.sizes = this.sizes.slice(this.head);
      this.head = 0;
    }
  };

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }
}

export function isBatch<M>(value: unknown): value is Batch<M> {
  return typeof value === 'object' && value !== null && (value as { conveyor?: unknown }).conveyor === 1;
}
