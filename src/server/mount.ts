import type { ServerConfig } from '../config.js';
import type { Publication } from '../ipc/messages.js';
import type { PrimaryLink } from '../ipc/primary-link.js';
import type { Logger } from '../log.js';
import type { Registry } from '../registry/registry.js';
import type { TaskRunner } from '../tasks/task-runner.js';
import type { HandshakeInfo } from '../transport/app.js';
import type { Connection } from '../transport/connection.js';
import type { HttpRoute } from '../http/routes.js';
import type { HookRunner } from './hook-runner.js';

/** Who may not receive a publication, and who sent it (for the sender's share of the way across). */
export interface PublishOptions {
  /** fd of a socket left out, on whichever worker it is. */
  except?: number;
  /** fd of the socket that caused it; none for HTTP publishes. */
  from?: number;
  ackId?: string;
}

/** What the worker shell offers the protocols it mounts: sockets by fd, topics, the bus, shared state. */
export interface WorkerServices {
  readonly config: ServerConfig;
  /** With several nodes, this worker's node: ids it makes are unique across nodes. */
  readonly nodeId: string | undefined;
  readonly log: Logger;
  readonly registry: Registry;
  readonly tasks: TaskRunner;
  readonly link: PrimaryLink;
  /** The embedder's hooks, run guarded. */
  readonly hooks: HookRunner;
  /** The open socket with this fd on this worker. */
  connection(fd: number): Connection | undefined;
  /**
   * Publishes to a topic's subscribers on every worker. False when refused whole because
   * the way to the other workers is full for this sender: nothing was delivered anywhere.
   */
  publish(topic: string, frame: string | Uint8Array, options?: PublishOptions): boolean;
  /**
   * Publishes several frames of one HTTP request all or none: refused whole, as publish()
   * is, when the way across is not clear, so that a retry of a refused request does not
   * send twice what went out before the refusal.
   */
  publishAll(items: readonly { topic: string; frame: string; options?: PublishOptions }[]): boolean;
}

/** A protocol's refusal of a handshake: the HTTP answer, and what the log says. */
export interface HandshakeRefusalOf {
  status: number;
  body: string;
  kind: string;
  reason: string;
}

/** A protocol as the worker shell mounts it: the sockets of its paths, and its HTTP routes. */
export interface Mount {
  /** HTTP routes of this protocol, beside the shell's own. */
  readonly routes: HttpRoute[];
  /**
   * Admits or refuses a handshake on this protocol's path once the shell's own checks
   * passed (an HTTP status and body), before the connection limits count it.
   */
  admit(info: HandshakeInfo): HandshakeRefusalOf | undefined | Promise<HandshakeRefusalOf | undefined>;
  open(connection: Connection): void;
  message(connection: Connection, text: string, isBinary: boolean, binary?: Buffer): void;
  close(connection: Connection, code: number): void;
  /** The socket's send queue shrank (uWS drain). */
  drained?(connection: Connection): void;
  /** A frame over --message-rate, refused before it was read: tell the sender in the protocol's words. */
  rateLimited(connection: Connection): void;
  /** How this protocol tells its clients to go when the server drains (restart: SIGHUP). */
  drainClose(restart: boolean): { code: number; reason: string };
  /** A publication from another worker was just delivered to this worker's subscribers of `topic`. */
  delivered(publication: Publication, topic: string): void;
  /** Counters for the worker's usage report. */
  usage(): Record<string, number>;
  /**
   * Called about once a second by the shell's own timer. Mounts keep no timers of their
   * own: with this uWS build, an unref'd interval in a worker made sockets upgraded after an
   * asynchronous handshake close at once (1006) inside res.upgrade().
   */
  tick(): void;
}
