import type { OutboundTurn } from './outbound-turn.js';
import type { UWS } from './uws.js';

/** What the transport keeps in each uWS socket's user data. */
export interface SocketData {
  fd: number;
  remoteAddress: string;
  /** The handshake's path and query string, and which protocol the server mounted for it. */
  path: string;
  query: string;
  mount: string;
  /** Whatever the handshake kept for the mount (an app socket's headers). */
  context: unknown;
  connection?: Connection;
}

/**
 * One WebSocket as the rest of the server sees it: bytes out, topics, close. After uWS
 * has closed a socket, touching it throws, so every method checks `closed` first.
 */
export class Connection {
  closed = false;

  /**
   * What the handshake decided is read from the socket's user data rather than copied:
   * every open socket holds this object, so each field here costs memory per connection.
   */
  constructor(
    private readonly ws: UWS.WebSocket<SocketData>,
    private readonly data: SocketData,
    private readonly turn: OutboundTurn,
  ) {}

  get fd(): number {
    return this.data.fd;
  }

  get remoteAddress(): string {
    return this.data.remoteAddress;
  }

  get path(): string {
    return this.data.path;
  }

  /** The protocol serving this socket, as the handshake chose it. */
  get mount(): string {
    return this.data.mount;
  }

  /** Whatever the handshake kept for the mount (an app socket's headers). */
  get context(): unknown {
    return this.data.context;
  }

  /**
   * Lets go of what only the handshake and the open read, so an open socket does not keep
   * copies of it: the query always, the path and the remote address when `all` (they read
   * as '' afterwards). Called by the owner once nothing will ask for them.
   */
  forgetHandshake(all: boolean): void {
    this.data.query = '';
    if (!all) return;
    this.data.path = '';
    this.data.remoteAddress = '';
  }

  /** The handshake's query, parsed when asked: most sockets never need it, and a parsed one costs memory for the socket's life. */
  get query(): URLSearchParams {
    return new URLSearchParams(this.data.query);
  }

  /**
   * Sends a text frame; false when the socket is closed or the frame was dropped. Queued
   * behind this turn's publishes, when there are any.
   */
  send(frame: string | Uint8Array, isBinary = false): boolean {
    if (this.closed) return false;
    if (this.turn.idle) return this.ws.send(frame, isBinary) !== 2;
    this.turn.defer(() => {
      if (!this.closed) this.ws.send(frame, isBinary);
    });
    return true;
  }

  subscribe(topic: string): void {
    this.turn.inOrder(() => {
      if (!this.closed) this.ws.subscribe(topic);
    });
  }

  unsubscribe(topic: string): void {
    this.turn.inOrder(() => {
      if (!this.closed) this.ws.unsubscribe(topic);
    });
  }

  /**
   * Publishes now to a topic's subscribers on this worker, this socket excluded; false once
   * it closed or while it has no subscription (uWS would then deliver to no one).
   */
  publishToOthersNow(topic: string, frame: string | Uint8Array, isBinary = false): boolean {
    if (this.closed || this.ws.getTopics().length === 0) return false;
    this.ws.publish(topic, frame, isBinary);
    return true;
  }

  bufferedAmount(): number {
    return this.closed ? 0 : this.ws.getBufferedAmount();
  }

  /** Closes with a code and reason (the close frame is sent after what is already queued). */
  end(code: number, reason: string): void {
    this.turn.inOrder(() => {
      if (!this.closed) this.ws.end(code, reason);
    });
  }

  /** Cuts the connection without a close frame (for a peer that cannot even take one). */
  terminate(): void {
    if (!this.closed) this.ws.close();
  }
}
