import { Connection, type SocketData } from './connection.js';
import { OutboundTurn } from './outbound-turn.js';
import type { HttpHandler, HttpRoute } from '../http/routes.js';
import { copyRequest, serveHttp, statusLine } from './http.js';
import { uws, type UWS } from './uws.js';
import type { AddressResolver } from './client-address.js';

export interface HandshakeInfo {
  path: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  remoteAddress: string;
}

export type HandshakeVerdict =
  /**
   * `mount` names the protocol that serves the socket; `opened` runs when the socket
   * opened, `abandoned` when the client went away before.
   */
  | { accept: true; mount: string; context?: unknown; opened?: () => void; abandoned?: () => void }
  | { accept: false; status: number; body: string };

/** What the transport calls into; it knows nothing of actions or channels. */
export interface TransportHandlers {
  handshake(info: HandshakeInfo): HandshakeVerdict | Promise<HandshakeVerdict>;
  /** A new fd for an accepted socket; may wait for the primary to hand out a block. */
  allocateFd(): number | Promise<number>;
  open(connection: Connection): void;
  /** A message: text decoded, or for a binary message its bytes (copied). */
  message(connection: Connection, text: string, isBinary: boolean, binary: Buffer | undefined): void;
  close(connection: Connection, code: number): void;
  /** A socket's send queue shrank (uWS drain). */
  drain(connection: Connection): void;
  /** HTTP routes, matched in order by method and exact path; `*` as method matches any. */
  routes: HttpRoute[];
  notFound: HttpHandler;
  onError(error: unknown): void;
}

export interface TransportOptions {
  maxPayload: number;
  idleTimeout: number;
  maxHttpBody: number;
  /** Bytes queued for one socket past which uWS stops queueing publishes to it. */
  maxBackpressure: number;
  tls?: { certFile: string; keyFile: string; passphrase?: string | undefined };
  /** The client's address of a request (behind a trusted proxy, from its headers). */
  resolveAddress: AddressResolver;
}

/** The uWebSockets.js server of one event worker: upgrade, sockets, topics and HTTP. */
export class Transport {
  private readonly app: UWS.TemplatedApp;
  private listenSocket: UWS.us_listen_socket | undefined;
  private readonly sockets = new Set<Connection>();
  private readonly turn = new OutboundTurn();
  private upgrades = 0;
  /**
   * Set by the open handler, which uWS runs inside res.upgrade(): whether the socket being
   * upgraded right now opened. One flag for the worker rather than an object per socket.
   */
  private openedInUpgrade = false;

  constructor(
    private readonly options: TransportOptions,
    private readonly handlers: TransportHandlers,
  ) {
    const { tls } = options;
    this.app = tls
      ? uws.SSLApp({ cert_file_name: tls.certFile, key_file_name: tls.keyFile, ...(tls.passphrase ? { passphrase: tls.passphrase } : {}) })
      : uws.App();
    this.app.ws<SocketData>('/*', {
      // uWS cuts a message over its own limit without a close frame, so it gets room up to twice
      // ours and the server answers what lies between with 1009. Beyond that the cut is kept:
      // a peer announcing a giant message is not worth buffering it for a polite close.
      maxPayloadLength: options.maxPayload * 2,
      idleTimeout: options.idleTimeout,
      sendPingsAutomatically: options.idleTimeout > 0,
      // Past this a slow reader's publishes are dropped by uWS; the server's slow-consumer policy decides the rest.
      maxBackpressure: options.maxBackpressure,
      closeOnBackpressureLimit: 0,
      upgrade: (res, req, context) => this.upgrade(res, req, context),
      open: (ws) => {
        const data = ws.getUserData();
        this.openedInUpgrade = true;
        const connection = new Connection(ws, data, this.turn);
        data.connection = connection;
        this.sockets.add(connection);
        // After this callback, which runs inside res.upgrade(), has returned: what the
        // protocol sends then goes out as the socket's first frames, once the upgrade is done.
        // The microtask still runs before uWS reads anything from the socket.
        queueMicrotask(() => {
          if (!connection.closed) this.handlers.open(connection);
        });
      },
      message: (ws, message, isBinary) => {
        const connection = ws.getUserData().connection;
        if (!connection) return;
        if (message.byteLength > this.options.maxPayload) return connection.end(1009, 'Message too big');
        // uWS frees the message buffer when this callback returns: decode (copy) it now.
        this.handlers.message(connection, isBinary ? '' : Buffer.from(message).toString('utf8'), isBinary, isBinary ? Buffer.from(message.slice(0)) : undefined);
      },
      drain: (ws) => {
        const connection = ws.getUserData().connection;
        if (connection) this.handlers.drain(connection);
      },
      close: (ws, code) => {
        const connection = ws.getUserData().connection;
        if (!connection) return;
        connection.closed = true;
        this.sockets.delete(connection);
        this.handlers.close(connection, code);
      },
    });
    this.app.any('/*', (res, req) => {
      const method = req.getMethod().toUpperCase();
      const path = req.getUrl();
      // HEAD is answered wherever GET is, with the same status and headers and no body.
      const wanted = method === 'HEAD' ? 'GET' : method;
      const route = this.handlers.routes.find((r) => (r.prefix ? path.startsWith(r.path) : r.path === path) && (r.method === wanted || r.method === '*'));
      serveHttp(res, req, this.options.maxHttpBody, route?.handler ?? this.handlers.notFound, this.handlers.onError, this.options.resolveAddress);
    });
  }

  get connectionCount(): number {
    return this.sockets.size;
  }

  /** Handshakes under way: admitted or being decided, not yet open. */
  get upgradesInFlight(): number {
    return this.upgrades;
  }

  /** Every open socket of this worker. */
  connections(): Iterable<Connection> {
    return this.sockets;
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.app.listen(host, port, (socket) => {
        if (!socket) {
          reject(new Error(`cannot listen on ${host}:${port}: the address is in use or not available. Choose another --port or --host.`));
          return;
        }
        this.listenSocket = socket;
        resolve(uws.us_socket_local_port(socket as unknown as UWS.us_socket));
      });
    });
  }

  /** Stops accepting; open sockets stay. */
  stopListening(): void {
    if (this.listenSocket) {
      uws.us_listen_socket_close(this.listenSocket);
      this.listenSocket = undefined;
    }
  }

  /**
   * Publishes to every subscriber of a topic on this worker, `except` left out, once this
   * turn's callbacks have returned (see OutboundTurn).
   */
  publish(topic: string, frame: string | Uint8Array, except?: Connection, isBinary = false): void {
    this.turn.defer(() => {
      // A sender that closed meanwhile is no longer subscribed: it is left out either way.
      if (!except?.publishToOthersNow(topic, frame, isBinary)) this.app.publish(topic, frame, isBinary);
    });
  }

  private upgrade(res: UWS.HttpResponse, req: UWS.HttpRequest, context: UWS.us_socket_context_t): void {
    // Everything needed later is copied now: uWS request objects die at the first await.
    const key = req.getHeader('sec-websocket-key');
    const protocols = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const info: HandshakeInfo = copyRequest(res, req, this.options.resolveAddress);
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    // The protocol mode is configuration, so the first requested subprotocol is echoed as is.
    const protocol = protocols.split(',')[0]?.trim() ?? '';
    /**
     * Answers the handshake. On time (inside this callback) uWS has corked the response.
     * Late (after an await), the upgrade is not corked although uWS asks for it: corking it
     * makes uWS's cork() mistake the upgraded socket for the HTTP response when the socket's
     * memory is resized in place, and close the new WebSocket at once (uWebSockets issues
     * 1928/1929; seen here as about one late handshake in a few hundred). The warning uWS
     * prints for it is dropped by the primary (see worker-output.ts).
     */
    const complete = (verdict: HandshakeVerdict, fd: number | undefined, late: boolean): void => {
      if (aborted) {
        if (verdict.accept) verdict.abandoned?.();
        return;
      }
      if (!verdict.accept) {
        const refuse = (): void => void res.writeStatus(statusLine(verdict.status)).writeHeader('content-type', 'application/json').end(verdict.body, true);
        if (late) res.cork(refuse);
        else refuse();
        return;
      }
      this.openedInUpgrade = false;
      let opened = false;
      try {
        const data: SocketData = { fd: fd!, remoteAddress: info.remoteAddress, path: info.path, query: info.query.toString(), mount: verdict.mount, context: verdict.context };
        res.upgrade<SocketData>(data, key, protocol, extensions, context);
      } finally {
        // uWS runs the open handler inside upgrade(): a socket not open by now never will be.
        opened = this.openedInUpgrade;
        this.openedInUpgrade = false;
        if (opened) verdict.opened?.();
        else verdict.abandoned?.();
      }
    };
    const failed = (error: unknown): void => {
      this.handlers.onError(error);
      if (!aborted) res.cork(() => res.writeStatus(statusLine(500)).end('', true));
    };
    let decided: HandshakeVerdict | Promise<HandshakeVerdict>;
    let fd: number | Promise<number> | undefined;
    try {
      decided = this.handlers.handshake(info);
      if (!(decided instanceof Promise)) {
        fd = decided.accept ? this.handlers.allocateFd() : undefined;
        if (!(fd instanceof Promise)) return complete(decided, fd, false);
      }
    } catch (error) {
      return failed(error);
    }
    this.upgrades++;
    const late = async (): Promise<void> => {
      const verdict = await decided;
      complete(verdict, verdict.accept ? await (fd ?? this.handlers.allocateFd()) : undefined, true);
    };
    late()
      .catch(failed)
      .finally(() => this.upgrades--);
  }
}
