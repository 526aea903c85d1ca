import { connect, type Socket } from 'node:net';
import { encodeClose, encodePong } from './client-frames.js';
import { FrameScanner, Opcode } from './frame-scanner.js';
import { parseUpgradeResponse, upgradeRequest } from './handshake.js';

export interface Endpoint {
  host: string;
  port: number;
}

/** What a connection reports to its owner. Buffers are valid only during the call. */
export interface ConnectionEvents {
  /** Called before the messages of each read are reported (one clock reading per read). */
  beforeRead?(): void;
  /** Called after the messages of each read were reported. */
  afterRead?(): void;
  /** The upgrade succeeded. */
  open(connection: RawConnection): void;
  /** A text or binary message. */
  message(connection: RawConnection, opcode: number, payload: Buffer, start: number, end: number): void;
  /** The connection is gone; `reason` undefined when this side closed it on purpose. */
  closed(connection: RawConnection, reason: string | undefined): void;
}

/**
 * One WebSocket client on a plain TCP socket, for a load generator: no per-message
 * allocation on receive. Every socket of a thread reads into the same buffer (reads run
 * one at a time on a thread), and the frame scanner works on it in place.
 */
export class RawConnection {
  private readonly socket: Socket;
  private readonly scanner: FrameScanner;
  private handshake: Buffer | undefined = Buffer.alloc(0);
  private readonly expectedAccept: string;
  private state: 'connecting' | 'open' | 'closing' | 'closed' = 'connecting';
  private timer: NodeJS.Timeout | undefined;

  constructor(
    /** Index of this connection in the run. */
    readonly id: number,
    endpoint: Endpoint,
    path: string,
    subprotocol: string | undefined,
    readBuffer: Buffer,
    private readonly events: ConnectionEvents,
    handshakeTimeoutMs: number,
  ) {
    this.scanner = new FrameScanner((opcode, payload, start, end) => this.onMessage(opcode, payload, start, end));
    const request = upgradeRequest(`${endpoint.host}:${endpoint.port}`, path, subprotocol);
    this.expectedAccept = request.expectedAccept;
    this.socket = connect({
      host: endpoint.host,
      port: endpoint.port,
      noDelay: true,
      onread: {
        buffer: readBuffer,
        callback: (length) => {
          this.onRead(readBuffer, length);
          return true;
        },
      },
    });
    this.socket.on('connect', () => this.socket.write(request.bytes));
    this.socket.on('error', (error: NodeJS.ErrnoException) => this.fail(`${error.code ?? 'socket error'}: ${error.message}`));
    this.socket.on('close', () => this.fail(this.state === 'open' ? 'connection closed by the server without a close frame' : 'connection closed before the upgrade finished'));
    this.timer = setTimeout(() => this.fail(`no upgrade within ${handshakeTimeoutMs} ms`), handshakeTimeoutMs);
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Bytes accepted by write() that the kernel has not taken yet. */
  get queued(): number {
    return this.socket.writableLength;
  }

  /** Writes bytes (queued by the socket when the kernel is full: open-loop senders never wait). */
  write(bytes: Buffer): void {
    if (this.state === 'open') this.socket.write(bytes);
  }

  /** Cuts the socket at once (end of run, or a failure). */
  destroy(): void {
    this.socket.destroy();
  }

  private onRead(buffer: Buffer, length: number): void {
    if (this.state === 'open') {
      this.events.beforeRead?.();
      this.scan(buffer, 0, length);
      this.events.afterRead?.();
      return;
    }
    if (this.state !== 'connecting' || !this.handshake) return;
    this.handshake = Buffer.concat([this.handshake, buffer.subarray(0, length)]);
    const outcome = parseUpgradeResponse(this.handshake, this.expectedAccept);
    if (outcome.kind === 'incomplete') return;
    if (outcome.kind === 'refused') return this.fail(outcome.reason);
    this.handshake = undefined;
    clearTimeout(this.timer);
    this.state = 'open';
    this.events.open(this);
    if (outcome.rest.length > 0 && this.state === 'open') this.scan(outcome.rest, 0, outcome.rest.length);
  }

  private scan(buffer: Buffer, start: number, end: number): void {
    try {
      this.scanner.push(buffer, start, end);
    } catch (error) {
      this.fail(`the server sent an invalid frame: ${(error as Error).message}`);
    }
  }

  private onMessage(opcode: number, payload: Buffer, start: number, end: number): void {
    switch (opcode) {
      case Opcode.ping:
        this.socket.write(encodePong(Buffer.from(payload.subarray(start, end))));
        return;
      case Opcode.pong:
        return;
      case Opcode.close: {
        const code = end - start >= 2 ? payload.readUInt16BE(start) : 1005;
        const reason = payload.toString('utf8', Math.min(end, start + 2), end);
        if (this.state === 'open') {
          this.state = 'closing';
          this.socket.end(encodeClose(code === 1005 ? 1000 : code));
          this.finish(`closed by the server: ${code}${reason ? ` ${reason}` : ''}`);
        }
        return;
      }
      default:
        if (this.state === 'open') this.events.message(this, opcode, payload, start, end);
    }
  }

  private fail(reason: string): void {
    if (this.state === 'closed') return;
    if (this.state === 'closing') return this.finish(undefined);
    this.socket.destroy();
    this.finish(reason);
  }

  private finish(reason: string | undefined): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.timer);
    this.events.closed(this, reason);
  }
}
