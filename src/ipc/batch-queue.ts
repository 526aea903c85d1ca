import type { Batch } from './messages.js';

/**
 * Collects messages and sends them as one IPC message per event-loop turn: a single
 * `process.send` costs about as much as a batch of dozens, so per-frame sends would make
 * the cluster channel the bottleneck.
 */
export class BatchQueue<M> {
  private pending: M[] = [];
  private scheduled = false;

  constructor(private readonly sendBatch: (batch: Batch<M>) => void) {}

  push(message: M): void {
    this.pending.push(message);
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
    this.pending = [];
    this.sendBatch({ conveyor: 1, messages });
  };
}

export function isBatch<M>(value: unknown): value is Batch<M> {
  return typeof value === 'object' && value !== null && (value as { conveyor?: unknown }).conveyor === 1;
}
