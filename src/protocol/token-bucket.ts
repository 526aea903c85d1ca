/**
 * A per-socket token bucket: `rate` tokens a second, at most `burst` saved up. Time is
 * read only when a message arrives, so an idle socket costs nothing.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  /** Whether the bucket was full when the last take() came: the socket had rested. */
  wasFull = true;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = performance.now.bind(performance),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes one token; false when none is left. */
  take(): boolean {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    this.wasFull = this.tokens >= this.burst;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** What a socket's flood control decides for one incoming message. */
export type FloodVerdict = 'accept' | 'refuse-first' | 'refuse' | 'close';

/**
 * Flood control of one socket: over the rate its frames are refused (the first refusal is
 * answered, the rest dropped silently so a flood cannot make the server flood back). A
 * socket refused more than `burst` times before its bucket is full again is closed: it
 * keeps sending faster than the rate rather than slowing down.
 */
export class FloodControl {
  private readonly bucket: TokenBucket;
  private refused = 0;

  constructor(
    rate: number,
    private readonly burst: number,
    now?: () => number,
  ) {
    this.bucket = new TokenBucket(rate, burst, now);
  }

  check(): FloodVerdict {
    const taken = this.bucket.take();
    if (this.bucket.wasFull) this.refused = 0;
    if (taken) return 'accept';
    this.refused++;
    if (this.refused > this.burst) return 'close';
    return this.refused === 1 ? 'refuse-first' : 'refuse';
  }
}
