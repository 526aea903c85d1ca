import type { SlowConsumerPolicy } from '../config.js';
import type { Logger } from '../log.js';
import type { Connection } from '../transport/connection.js';

export const SLOW_CONSUMER_CLOSE_CODE = 1013;

/**
 * Finds sockets whose queue passed --max-backpressure. uWS already stops queueing
 * publishes to them (so memory stays bounded); this applies the policy: close them with
 * 1013 so the client reconnects and catches up, or keep them and count that they are
 * missing messages. Runs on a timer, so the hot path pays nothing per recipient.
 */
export class SlowConsumers {
  /** Sockets closed for being slow, since start. */
  closed = 0;
  /** Times a kept socket was found dropping messages, since start. */
  dropping = 0;
  private readonly logged = new WeakSet<Connection>();

  constructor(
    private readonly policy: SlowConsumerPolicy,
    private readonly limit: number,
    private readonly log: Logger,
  ) {}

  sweep(connections: Iterable<Connection>): void {
    for (const connection of connections) {
      const queued = connection.bufferedAmount();
      if (queued <= this.limit) continue;
      if (this.policy === 'close') {
        this.closed++;
        this.log.warn({ fd: connection.fd, queued, limit: this.limit }, 'slow consumer closed');
        connection.end(SLOW_CONSUMER_CLOSE_CODE, `Slow consumer: more than ${this.limit} bytes queued; reconnect`);
        continue;
      }
      this.dropping++;
      if (!this.logged.has(connection)) {
        this.logged.add(connection);
        this.log.warn({ fd: connection.fd, queued, limit: this.limit }, 'slow consumer is missing messages');
      }
    }
  }
}
