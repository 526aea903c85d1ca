import type { OverflowPolicy } from './types.js';

/** Frames sent while disconnected, flushed in order once the client is ready again. */
export class Outbox {
  private readonly frames: string[] = [];

  constructor(
    private readonly limit: number,
    private readonly policy: OverflowPolicy,
  ) {}

  get size(): number {
    return this.frames.length;
  }

  /** Queues a frame; returns the frame that was dropped to make room, if any. Throws under 'error'. */
  push(frame: string): string | undefined {
    if (this.frames.length < this.limit) {
      this.frames.push(frame);
      return undefined;
    }
    if (this.policy === 'error') throw new Error(`Conveyor: the outgoing queue is full (${this.limit} frames) while disconnected; raise queueLimit or wait for the connection`);
    if (this.policy === 'drop-newest') return frame;
    const dropped = this.frames.shift();
    this.frames.push(frame);
    return dropped;
  }

  /** Takes every queued frame, oldest first. */
  drain(): string[] {
    return this.frames.splice(0, this.frames.length);
  }
}
