import type { SlowConsumerPolicy } from '../config.js';
import type { Logger } from '../log.js';
import type { Connection } from '../transport/connection.js';

export const SLOW_CONSUMER_CLOSE_CODE = 1013;
/** Sweeps a condemned socket may stay full before it is cut without a close frame. */
const CONDEMNED_SWEEPS = 10;

/**
 * Finds sockets whose queue passed --max-backpressure. uWS stops queueing publishes to
 * them at its own limit (so memory stays bounded); this applies the policy: close them
 * with 1013 so the client reconnects and catches up, or keep them and count that they
 * miss messages. Runs on a timer, so the hot path pays nothing per recipient.
 *
 * A 1013 close frame is itself dropped by uWS while the queue is at uWS's limit, so a
 * socket found that full is condemned and closed as soon as it drains below the limit;
 * one that never drains is cut after CONDEMNED_SWEEPS sweeps.
 */
export class SlowConsumers {
  /** Sockets closed for being slow, since start. */
  closed = 0;
  /** Times a kept slow socket was found missing messages, since start. */
  dropping = 0;
  private readonly logged = new WeakSet<Connection>();
  private readonly condemned = new Map<Connection, number>();

  constructor(
    private readonly policy: SlowConsumerPolicy,
    private readonly limit: number,
    /** The queue size at which uWS drops frames to a socket, the close frame included. */
    private readonly hardLimit: number,
    private readonly log: Logger,
  ) {}

  sweep(connections: Iterable<Connection>): void {
    for (const [connection, sweeps] of this.condemned) {
      if (connection.closed) this.condemned.delete(connection);
      else if (sweeps >= CONDEMNED_SWEEPS) {
        this.condemned.delete(connection);
        this.log.warn({ fd: connection.fd }, 'slow consumer never drained: connection cut');
        connection.terminate();
      } else this.condemned.set(connection, sweeps + 1);
    }
    for (const connection of connections) {
      const queued = connection.bufferedAmount();
      if (queued <= this.limit || this.condemned.has(connection)) continue;
      if (this.policy === 'close') {
        this.closed++;
        this.log.warn({ fd: connection.fd, queued, limit: this.limit }, 'slow consumer closed');
        if (!this.tryClose(connection)) this.condemned.set(connection, 0);
        continue;
      }
      this.dropping++;
      if (!this.logged.has(connection)) {
        this.logged.add(connection);
        this.log.warn({ fd: connection.fd, queued, limit: this.limit }, 'slow consumer is missing messages');
      }
    }
  }

  /** A socket's queue shrank: a condemned one now has room for its close frame. */
  drained(connection: Connection): void {
    if (this.condemned.has(connection) && this.tryClose(connection)) this.condemned.delete(connection);
  }

  private tryClose(connection: Connection): boolean {
    if (connection.bufferedAmount() >= this.hardLimit) return false;
    connection.end(SLOW_CONSUMER_CLOSE_CODE, `Slow consumer: more than ${this.limit} bytes queued; reconnect`);
    return true;
  }
}
