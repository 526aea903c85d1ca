import * as hdr from 'hdr-histogram-js';

/** Latencies are recorded in microseconds: enough resolution for a loopback hop. */
const HIGHEST_MICROS = 120_000_000;
/**
 * Values are first counted in flat arrays and handed to the hdr histogram in bulk when it
 * is read: hdr-histogram-js's JS recordValue costs ~150 ns, as much as the rest of a
 * received message's handling, an array slot ~2 ns. Three tiers of 2^16 slots: exact µs
 * below 65 ms, 64 µs steps below 4.2 s, 4 ms steps below 268 s; each step is under 0.1 %
 * of the values it holds, finer than hdr's own 3 significant digits there.
 */
const TIER_SLOTS = 1 << 16;
const TIER_SHIFTS = [0, 6, 12] as const;

export interface LatencySummary {
  /** Values recorded. */
  count: number;
  /** Milliseconds. */
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/**
 * A latency histogram per generator thread (hdr-histogram-js, 3 significant digits, µs).
 * Threads cannot share one, so each sends its encoded histogram to the main thread,
 * which merges them before reading percentiles: percentiles of the merged counts, never
 * averages of per-thread percentiles.
 */
export class LatencyHistogram {
  private readonly histogram: hdr.Histogram;
  private readonly tiers: (Uint32Array | undefined)[] = [new Uint32Array(TIER_SLOTS), undefined, undefined];
  private pending = false;

  constructor() {
    this.histogram = hdr.build({
      bitBucketSize: 32,
      lowestDiscernibleValue: 1,
      highestTrackableValue: HIGHEST_MICROS,
      numberOfSignificantValueDigits: 3,
      autoResize: true,
      useWebAssembly: false,
    });
  }

  /** Records one latency; values below 1 µs (clock granularity) count as 1 µs. */
  record(micros: number): void {
    const value = micros < 1 ? 1 : micros > HIGHEST_MICROS ? HIGHEST_MICROS : Math.round(micros);
    this.pending = true;
    if (value < TIER_SLOTS) this.tiers[0]![value]!++;
    else if (value < TIER_SLOTS << 6) (this.tiers[1] ??= new Uint32Array(TIER_SLOTS))[value >>> 6]!++;
    else if (value < TIER_SLOTS << 12) (this.tiers[2] ??= new Uint32Array(TIER_SLOTS))[value >>> 12]!++;
    else this.histogram.recordValue(value);
  }

  get count(): number {
    return this.settled().totalCount;
  }

  /** A compact copy to post to another thread. */
  encode(): string {
    return hdr.encodeIntoCompressedBase64(this.settled());
  }

  /** The hdr histogram with every flat count moved into it (a coarse slot counts at its middle). */
  private settled(): hdr.Histogram {
    if (!this.pending) return this.histogram;
    this.tiers.forEach((slots, tier) => {
      if (!slots) return;
      const shift = TIER_SHIFTS[tier]!;
      const middle = shift === 0 ? 0 : 1 << (shift - 1);
      for (let slot = 0; slot < TIER_SLOTS; slot++) {
        if (slots[slot]! > 0) this.histogram.recordValueWithCount(slot * 2 ** shift + middle, slots[slot]!);
      }
      slots.fill(0);
    });
    this.pending = false;
    return this.histogram;
  }

  /** Adds the counts of an encoded histogram from another thread. */
  addEncoded(encoded: string): void {
    const other = hdr.decodeFromCompressedBase64(encoded, 32, false);
    this.settled().add(other);
    other.destroy();
  }

  add(other: LatencyHistogram): void {
    this.settled().add(other.settled());
  }

  summary(): LatencySummary | undefined {
    const h = this.settled();
    if (h.totalCount === 0) return undefined;
    const ms = (micros: number): number => Math.round(micros) / 1000;
    return {
      count: h.totalCount,
      p50: ms(h.getValueAtPercentile(50)),
      p90: ms(h.getValueAtPercentile(90)),
      p99: ms(h.getValueAtPercentile(99)),
      p999: ms(h.getValueAtPercentile(99.9)),
      max: ms(h.maxValue),
      mean: ms(h.mean),
    };
  }
}
