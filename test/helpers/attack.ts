import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FrameClient } from './frame-client.js';

const MB = 1024 * 1024;

/** Resident memory of a process now, from /proc (bytes); 0 once it is gone. */
export function rssOf(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Samples the resident memory of a set of processes every 50 ms while an attack runs and
 * keeps each one's first and largest reading: an attack must raise none of them past its
 * ceiling at any moment, not just by its end.
 */
export class RssWatch {
  readonly baseline: Map<string, number>;
  readonly peak = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly processes: Record<string, number>) {
    this.baseline = new Map(Object.entries(processes).map(([name, pid]) => [name, rssOf(pid)]));
    this.sample();
    this.timer = setInterval(() => this.sample(), 50);
  }

  private sample(): void {
    for (const [name, pid] of Object.entries(this.processes)) this.peak.set(name, Math.max(this.peak.get(name) ?? 0, rssOf(pid)));
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }

  /** One line per process: before → peak. */
  describe(): string {
    return [...this.baseline].map(([name, before]) => `${name} ${(before / MB).toFixed(0)} → ${((this.peak.get(name) ?? 0) / MB).toFixed(0)} MB`).join(', ');
  }

  /** Fails unless every process peaked below its baseline plus `growthMb`. */
  assertGrowthBelow(growthMb: number): void {
    for (const [name, before] of this.baseline) {
      const peak = this.peak.get(name) ?? 0;
      assert.ok(peak - before < growthMb * MB, `${name} grew by ${((peak - before) / MB).toFixed(0)} MB under attack (ceiling ${growthMb} MB): ${this.describe()}`);
    }
  }
}

/**
 * A conversation that must go on undisturbed beside an attack: `talker` broadcasts a
 * numbered message every `everyMs` into its own channel, `listener` records how long each
 * took. At the end every message must have arrived, once and in order.
 */
export class ControlConversation {
  private sent = 0;
  private readonly sentAt: number[] = [];
  readonly latencies: number[] = [];
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    readonly talker: FrameClient,
    readonly listener: FrameClient,
    private readonly tag: string,
  ) {
    listener.ws.on('message', (data) => {
      const text = data.toString();
      if (!text.includes(tag)) return;
      const { data: body } = JSON.parse(text) as { data: { seq: number } };
      this.latencies[body.seq] = performance.now() - this.sentAt[body.seq]!;
    });
  }

  /** Joins two given clients (placed where the test wants them) to a fresh control channel. */
  static async between(talker: FrameClient, listener: FrameClient, channel: string): Promise<ControlConversation> {
    for (const client of [talker, listener]) {
      client.send({ action: 'channel-connect', channel });
      await client.barrier();
    }
    return new ControlConversation(talker, listener, `ctl:${channel}`);
  }

  start(everyMs = 20): void {
    this.timer = setInterval(() => {
      this.sentAt[this.sent] = performance.now();
      this.talker.send({ action: 'broadcast-action', data: { tag: this.tag, seq: this.sent++ } });
    }, everyMs);
  }

  /** Stops talking (a test that failed before finish() would otherwise never end). */
  stop(): void {
    clearInterval(this.timer);
  }

  /** Stops talking, waits for the last message, and checks that every one arrived in order. */
  async finish(): Promise<{ sent: number; p99: number; max: number }> {
    this.stop();
    const last = this.sent - 1;
    assert.ok(last >= 0, 'the control conversation sent nothing');
    const seqOf = (f: string): number => (JSON.parse(f) as { data: { seq: number } }).data.seq;
    // Parsed, not matched as text: on a kept channel the frame's own `seq` sits beside the body's.
    await this.listener.next((f) => f.includes(this.tag) && seqOf(f) === last, 30_000);
    const seqs = this.listener.frames.filter((f) => f.includes(this.tag)).map(seqOf);
    const refusals = this.talker.frames.filter((f) => f.startsWith('{"action":"error"'));
    assert.deepEqual(seqs, Array.from({ length: this.sent }, (_, i) => i), `the control conversation arrived complete and in order; the talker was refused ${refusals.length} times${refusals.length > 0 ? `: ${refusals[0]!.slice(0, 300)}` : ''}`);
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return { sent: this.sent, p99: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!, max: sorted.at(-1)! };
  }
}

/** Sends `make(i)` as fast as the socket takes it, until `until()` or the socket closes; returns how many were sent. */
export async function flood(client: FrameClient, make: (i: number) => string, until: () => boolean): Promise<number> {
  let sent = 0;
  while (!until() && client.closeCode === undefined && client.ws.readyState === client.ws.OPEN) {
    // Keep the client's own buffer short, so what the server holds is what is measured.
    if (client.ws.bufferedAmount > 1024 * 1024) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      continue;
    }
    for (let i = 0; i < 64; i++) client.ws.send(make(sent++));
    await new Promise((resolve) => setImmediate(resolve));
  }
  return sent;
}
