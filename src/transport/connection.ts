import type { OutboundTurn } from './outbound-turn.js';
import type { UWS } from './uws.js';

/** What the transport keeps in each uWS socket's user data. */
export interface SocketData {
  fd: number;
  remoteAddress: string;
  /** Marked by the open handler, which uWS runs inside res.upgrade(). */
  admission: { opened: boolean };
  connection?: Connection;
}

/**
 * One WebSocket as the rest of the server sees it: bytes out, topics, close. After uWS
 * has closed a socket, touching it throws, so every method checks `closed` first.
 */
export class Connection {
  closed = false;

  constructor(
    private readonly ws: UWS.WebSocket<SocketData>,
    readonly fd: number,
    readonly remoteAddress: string,
    private readonly turn: OutboundTurn,
  ) {}

  /**
   * Sends a text frame; false when the socket is closed or the frame was dropped. Queued
   * behind this turn's publishes, when there are any.
   */
  send(frame: string): boolean {
    if (this.closed) return false;
    if (this.turn.idle) return this.ws.send(frame, false) !== 2;
    this.turn.defer(() => {
      if (!this.closed) this.ws.send(frame, false);
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

  /** Publishes now to a topic's subscribers on this worker, this socket excluded; false once it closed. */
  publishToOthersNow(topic: string, frame: string): boolean {
    if (this.closed) return false;
    this.ws.publish(topic, frame, false);
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
