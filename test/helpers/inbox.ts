/**
 * What a test connection received, in order, and a cursor over it: `next` returns the next
 * item after the last one it returned that matches, waiting for it when it has not come yet.
 */
export class Inbox<T> {
  readonly items: T[] = [];
  /** Set when the source ended (a close code, say): waiting then fails at once. */
  ended: string | undefined;
  private cursor = 0;
  private waiter: (() => void) | undefined;

  constructor(
    /** What a failure message shows of the items (they may be megabytes). */
    private readonly describe: (items: readonly T[]) => string,
  ) {}

  push(item: T): void {
    this.items.push(item);
    this.waiter?.();
  }

  end(reason: string): void {
    this.ended = reason;
    this.waiter?.();
  }

  async next(match: (item: T) => boolean, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.cursor < this.items.length) {
        const item = this.items[this.cursor++]!;
        if (match(item)) return item;
      }
      if (this.ended !== undefined) throw new Error(`${this.ended} while waiting; received: ${this.describe(this.items)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame within ${timeoutMs} ms; received:\n${this.describe(this.items)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}
