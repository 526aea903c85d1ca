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
  /** Bytes of the frames kept (string lengths). */
  bytes: number;
}

/** What the bound on kept bytes has cost since start. */
export interface HistoryCounters {
  /** Bytes kept now across channels. */
  bytes: number;
  /** Channels that lost their kept frames to the bound, and the frames they lost. */
  evictedChannels: number;
  evictedFrames: number;
}

export function newEpoch(): string {
  return randomBytes(4).toString('hex');
}

/**
 * History of one machine, kept by the primary, which assigns every channel frame its `seq`:
 * a ring of the last `size` frames per channel, none older than `ttlMs`. A channel whose
 * frames all expired while it had no member is forgotten, counter and epoch with it.
 *
 * All channels together keep at most `maxBytes`: past it the least recently written channel
 * loses its kept frames (its next rejoin from before reports recovered: false), and is
 * forgotten whole when nobody is in it. The map's order is the order of last writes.
 */
export class MemoryHistory {
  private readonly channels = new Map<string, ChannelHistory>();
  private readonly sweeper: NodeJS.Timeout;
  readonly counters: HistoryCounters = { bytes: 0, evictedChannels: 0, evictedFrames: 0 };

  constructor(
    private readonly size: number,
    private readonly ttlMs: number,
    private readonly hasMembers: (channel: string) => boolean,
    private readonly now: () => number = Date.now,
    private readonly maxBytes = Number.POSITIVE_INFINITY,
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(60_000, Math.max(1000, ttlMs / 4)));
    this.sweeper.unref();
  }

  /** Keeps a frame published with `ackId` (or none); returns its seq and the frame as kept. */
  append(channel: string, frame: string, ackId: string | undefined): { seq: number; kept: string } {
    const history = this.entry(channel);
    // The most recently written goes last: the bound takes from the front.
    this.channels.delete(channel);
    this.channels.set(channel, history);
    const seq = ++history.seq;
    const kept = keptFrame(frame, seq, ackId);
    const at = this.now();
    const slot = (history.start + history.count) % this.size;
    const replaced = history.count < this.size ? undefined : history.frames[slot];
    if (replaced) this.account(history, -replaced.frame.length);
    history.frames[slot] = { seq, frame: kept, at };
    this.account(history, kept.length);
    if (history.count < this.size) history.count++;
    else history.start = (history.start + 1) % this.size;
    history.lastAt = at;
    this.enforce(channel);
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
        this.account(history, -history.frames[history.start]!.frame.length);
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

  private account(history: ChannelHistory, bytes: number): void {
    history.bytes += bytes;
    this.counters.bytes += bytes;
  }

  /** Past the bound, the least recently written channels lose their frames; never the one just written. */
  private enforce(written: string): void {
    if (this.counters.bytes <= this.maxBytes) return;
    for (const [channel, history] of this.channels) {
      if (this.counters.bytes <= this.maxBytes || channel === written) break;
      if (history.count > 0) {
        this.counters.evictedChannels++;
        this.counters.evictedFrames += history.count;
      }
      this.account(history, -history.bytes);
      history.frames = [];
      history.start = 0;
      history.count = 0;
      if (this.hasMembers(channel)) {
        // Kept, with its seq and epoch, at the back: members' next frames go on numbering.
        this.channels.delete(channel);
        this.channels.set(channel, history);
      } else {
        this.channels.delete(channel);
      }
    }
    // One channel alone past the bound keeps only its newest frames.
    const history = this.channels.get(written);
    while (history && this.counters.bytes > this.maxBytes && history.count > 1) {
      this.account(history, -history.frames[history.start]!.frame.length);
      history.frames[history.start] = undefined;
      history.start = (history.start + 1) % this.size;
      history.count--;
      this.counters.evictedFrames++;
    }
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
    if (!history) this.channels.set(channel, (history = { epoch: newEpoch(), seq: 0, frames: [], start: 0, count: 0, lastAt: this.now(), bytes: 0 }));
    return history;
  }
}
