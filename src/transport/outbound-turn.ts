/**
 * The outgoing work of one event-loop turn, run after uWS's callbacks have returned.
 *
 * With this uWS build a publish made inside a message callback is written while the
 * sender's socket is corked, so uWS cannot cork the subscribers and writes one `send()`
 * per subscriber per message. Published from setImmediate instead, uWS queues each
 * subscriber's messages and writes them once per turn. Sends, subscriptions and closes
 * issued while publishes wait are queued behind them, so every socket still sees the
 * server's operations in the order they were made.
 */
export class OutboundTurn {
  private ops: (() => void)[] = [];
  private scheduled = false;

  /** Runs `op` once the current callbacks returned, after everything queued before it. */
  defer(op: () => void): void {
    this.ops.push(op);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** True when nothing waits: work may go out at once. */
  get idle(): boolean {
    return this.ops.length === 0;
  }

  /** Runs `op` now when nothing waits, else after what does. */
  inOrder(op: () => void): void {
    if (this.ops.length === 0) op();
    else this.defer(op);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const ops = this.ops;
    this.ops = [];
    for (const op of ops) op();
  };
}
