import { randomBytes } from 'node:crypto';
import { keptFrame, pickReplay, type Replay, type ReplayRequest } from './sequenced-frame.js';

interface ChannelHistory {
  epoch: string;
  seq: number;
  /** A ring of the last `size` frames: `start` is the oldest. */
  frames: ({ seq: number; frame: string; at: number } | undefined)[];
  start: number;
  count: number;
  /** When the last frame was kept. */
  lastAt: number;
}

export function newEpoch(): string {
  return randomBytes(4).toString('hex');
}

/**
 * History of one machine, kept by the primary, which assigns every channel frame its `seq`:
 * a ring of the last `size` frames per channel, none older than `ttlMs`. A channel whose
 * frames all expired while it had no member is forgotten, counter and epoch with it.
 */
export class MemoryHistory {
  private readonly channels = new Map<string, ChannelHistory>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly size: number,
    private readonly ttlMs: number,
    private readonly hasMembers: (channel: string) => boolean,
    private readonly now: () => number = Date.now,
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(60_000, Math.max(1000, ttlMs / 4)));
    this.sweeper.unref();
  }

  /** Keeps a frame published with `ackId` (or none); returns its seq and the frame as kept. */
  append(channel: string, frame: string, ackId: string | undefined): { seq: number; kept: string } {
    const history = this.entry(channel);
    const seq = ++history.seq;
    const kept = keptFrame(frame, seq, ackId);
    const at = this.now();
    const slot = (history.start + history.count) % this.size;
    history.frames[slot] = { seq, frame: kept, at };
    if (history.count < this.size) history.count++;
    else history.start = (history.start + 1) % this.size;
    history.lastAt = at;
    return { seq, kept };
  }

  read(request: ReplayRequest): Replay {
    const history = this.entry(request.channel);
    return pickReplay(request, history.epoch, history.seq, this.live(history));
  }

  /** Drops expired frames, and channels left with no frame and no member. */
  sweep(): void {
    const edge = this.now() - this.ttlMs;
    for (const [channel, history] of this.channels) {
      while (history.count > 0 && history.frames[history.start]!.at <= edge) {
        history.frames[history.start] = undefined;
        history.start = (history.start + 1) % this.size;
        history.count--;
      }
      if (history.count === 0 && history.lastAt <= edge && !this.hasMembers(channel)) this.channels.delete(channel);
    }
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  private live(history: ChannelHistory): { seq: number; frame: string }[] {
    const edge = this.now() - this.ttlMs;
    const out: { seq: number; frame: string }[] = [];
    for (let i = 0; i < history.count; i++) {
      const kept = history.frames[(history.start + i) % this.size]!;
      if (kept.at > edge) out.push(kept);
    }
    return out;
  }

  private entry(channel: string): ChannelHistory {
    let history = this.channels.get(channel);
    if (!history) this.channels.set(channel, (history = { epoch: newEpoch(), seq: 0, frames: [], start: 0, count: 0, lastAt: this.now() }));
    return history;
  }
}
