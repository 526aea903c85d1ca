import { ServiceUnavailable } from '../errors.js';
import { BatchQueue, isBatch } from './batch-queue.js';
import { messageSize } from './message-size.js';
import type { PrimaryMessage, Request, WorkerMessage } from './messages.js';

type Incoming<T extends PrimaryMessage['type']> = Extract<PrimaryMessage, { type: T }>;

/**
 * An event worker's end of the cluster channel: batched sends, request/response by id,
 * and dispatch of what the primary sends.
 */
export class PrimaryLink {
  private readonly queue = new BatchQueue<WorkerMessage>(
    (batch, written) => {
      if (!process.connected || !process.send) return written();
      process.send(batch, undefined, {}, () => written());
    },
    messageSize,
  );
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private nextId = 1;
  private readonly listeners: { [T in PrimaryMessage['type']]?: (message: Incoming<T>) => void } = {};

  constructor() {
    process.on('message', (message: unknown) => {
      if (!isBatch<PrimaryMessage>(message)) return;
      for (const m of message.messages) this.dispatch(m);
    });
  }

  on<T extends Exclude<PrimaryMessage['type'], 'response'>>(type: T, listener: (message: Incoming<T>) => void): void {
    (this.listeners as Record<string, (message: Incoming<T>) => void>)[type] = listener;
  }

  send(message: WorkerMessage): void {
    this.queue.push(message);
  }

  /**
   * Asks the primary. `onArrival` runs the moment the answer is read, before any message
   * after it in the same batch: what must happen between two messages cannot wait for the
   * promise, whose continuation runs only after the whole batch.
   */
  request<R>(request: Request, onArrival?: (result: R) => void): Promise<R> {
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      const settle = onArrival ? (value: unknown): void => (onArrival(value as R), resolve(value as R)) : (resolve as (value: unknown) => void);
      this.pending.set(id, { resolve: settle, reject });
      this.queue.push({ type: 'request', id, request });
    });
  }

  /** Bytes queued towards the primary, here or in the channel's write buffer. */
  get queuedBytes(): number {
    return this.queue.queuedBytes;
  }

  /** Sends what is queued without waiting for the end of the turn (before exiting). */
  flush(): void {
    this.queue.flush(true);
  }

  private dispatch(message: PrimaryMessage): void {
    if (message.type === 'response') {
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      if (message.ok) waiter.resolve(message.result);
      else waiter.reject(message.unavailable ? new ServiceUnavailable(message.error) : new Error(message.error));
      return;
    }
    const listener = this.listeners[message.type] as ((m: PrimaryMessage) => void) | undefined;
    listener?.(message);
  }
}
