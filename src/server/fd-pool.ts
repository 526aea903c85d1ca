/**
 * Hands out this worker's socket ids from blocks the primary allocates, so ids are unique
 * across workers and never reused, without a round trip per connection.
 */
export class FdPool {
  private readonly blocks: { next: number; end: number }[] = [];
  private requested = false;
  private waiters: ((fd: number) => void)[] = [];

  constructor(
    private readonly requestBlock: () => void,
    private readonly lowWater: number,
  ) {}

  /** Adds a block from the primary. */
  add(first: number, count: number): void {
    this.requested = false;
    this.blocks.push({ next: first, end: first + count });
    while (this.waiters.length > 0 && this.available() > 0) this.waiters.shift()!(this.takeNow());
    this.refillIfLow();
  }

  take(): number | Promise<number> {
    if (this.available() > 0) {
      const fd = this.takeNow();
      this.refillIfLow();
      return fd;
    }
    this.refillIfLow();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private takeNow(): number {
    const block = this.blocks[0]!;
    const fd = block.next++;
    if (block.next >= block.end) this.blocks.shift();
    return fd;
  }

  private available(): number {
    let total = 0;
    for (const block of this.blocks) total += block.end - block.next;
    return total;
  }

  private refillIfLow(): void {
    if (!this.requested && this.available() < this.lowWater) {
      this.requested = true;
      this.requestBlock();
    }
  }
}
