/**
 * A small seeded generator (sfc32), so that a failing hostile run can be replayed exactly
 * from the seed it printed.
 */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(readonly seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 16; i++) this.uint32();
  }

  /** A seed from HOSTILE_SEED when set (to replay a run), else a fresh one. */
  static seedFromEnv(): number {
    const given = process.env['HOSTILE_SEED'];
    if (given !== undefined && given !== '') {
      const seed = Number(given);
      if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`HOSTILE_SEED must be an integer 0..4294967295, got ${given}`);
      return seed;
    }
    return Math.floor(Math.random() * 0x100000000);
  }

  uint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.uint32() / 0x100000000;
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(0, items.length - 1)]!;
  }

  bytes(length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i++) out[i] = this.uint32() & 0xff;
    return out;
  }

  /** A derived generator, so parallel streams stay reproducible whatever their interleaving. */
  fork(label: number): Prng {
    return new Prng((this.seed ^ Math.imul(label + 1, 0x9e3779b1)) >>> 0);
  }
}
