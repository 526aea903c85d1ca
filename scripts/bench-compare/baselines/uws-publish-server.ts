import { uws, type UWS } from '../../../src/transport/uws.js';
import { announce, channelOf, exitOnSignals, healthBody, portFromArgs } from './baseline-cli.js';

/**
 * The limit of the comparison: bare uWebSockets.js with no protocol at all. Every text
 * message is published as is to the sender's topic (uWS leaves the sender out), so all
 * the per-recipient work is uWS's own C++. Backpressure settings match Conveyor's
 * defaults (2 MiB before uWS drops publishes to a socket), so both are held to one rule.
 *
 * `--publish after-callback` (the default) publishes a turn's messages from setImmediate,
 * once the message callbacks returned. `--publish in-callback` calls ws.publish inside
 * the message callback, as the uWS examples do. The difference is the point: with this
 * uWS build, a publish inside a callback is drained while the sender's socket is corked,
 * so no subscriber can be corked and each queued message costs its own send() syscall;
 * published after the callback, uWS corks each subscriber and writes all its queued
 * messages in one send().
 *
 * `--ack` is the limit of acknowledged delivery: every published message gets an id
 * (`"id":"…"` after it, which is all the generator looks for), and each acknowledgment that
 * comes back is read and dropped, with no tracking: what one more incoming frame per
 * delivery costs uWS itself.
 */
interface UserData {
  channel: string;
}

type Mode = 'after-callback' | 'in-callback';

function modeFromArgs(argv: readonly string[] = process.argv.slice(2)): Mode {
  const at = argv.indexOf('--publish');
  const mode = at >= 0 ? argv[at + 1] : 'after-callback';
  if (mode !== 'after-callback' && mode !== 'in-callback') {
    process.stderr.write(`uws-publish-server: --publish must be after-callback or in-callback, got ${mode}\n`);
    process.exit(2);
  }
  return mode;
}

const port = portFromArgs();
const mode = modeFromArgs();
const ack = process.argv.includes('--ack');
const ACK_PREFIX = Buffer.from('{"action":"acknowledge-action"');
let nextId = 0;
/** Acknowledgments received; read so that the work of reading them is not optimised away. */
let acknowledged = 0;
let listenSocket: UWS.us_listen_socket | undefined;
let pending: { ws: UWS.WebSocket<UserData>; message: ArrayBuffer | Uint8Array; isBinary: boolean }[] = [];
const closed = new WeakSet<UWS.WebSocket<UserData>>();

function publishPending(): void {
  const batch = pending;
  pending = [];
  for (const { ws, message, isBinary } of batch) {
    // A socket that closed since its message arrived cannot publish any more.
    if (!closed.has(ws)) ws.publish(ws.getUserData().channel, message, isBinary);
  }
}

const app = uws
  .App()
  .ws<UserData>('/*', {
    maxPayloadLength: 64 * 1024,
    idleTimeout: 120,
    maxBackpressure: 2 * 1024 * 1024,
    closeOnBackpressureLimit: 0,
    upgrade: (res, req, context) => {
      res.upgrade<UserData>(
        { channel: channelOf(req.getQuery() ?? '') },
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      );
    },
    open: (ws) => {
      ws.subscribe(ws.getUserData().channel);
      ws.send('ready', false);
    },
    message: (ws, message, isBinary) => {
      let frame: ArrayBuffer | Uint8Array = message;
      if (ack) {
        const bytes = Buffer.from(message);
        if (bytes.length > ACK_PREFIX.length && bytes.subarray(0, ACK_PREFIX.length).equals(ACK_PREFIX)) {
          acknowledged++;
          return;
        }
        frame = Buffer.from(`${bytes.toString('latin1')}"id":"${(nextId++).toString(36)}"`, 'latin1');
      }
      if (mode === 'in-callback') {
        ws.publish(ws.getUserData().channel, frame, isBinary);
        return;
      }
      // uWS frees the message when the callback returns: keep a copy.
      if (pending.length === 0) setImmediate(publishPending);
      pending.push({ ws, message: ack ? frame : message.slice(0), isBinary });
    },
    close: (ws) => {
      closed.add(ws);
    },
  })
  .get('/health', (res) => {
    res.cork(() => res.writeHeader('content-type', 'application/json').end(healthBody()));
  });

app.listen('127.0.0.1', port, (socket) => {
  if (!socket) {
    process.stderr.write(`uws-publish-server: cannot listen on port ${port}; choose another --port\n`);
    process.exit(1);
  }
  listenSocket = socket;
  announce(`uws-${mode}`, uws.us_socket_local_port(socket as unknown as UWS.us_socket));
});
exitOnSignals(() => {
  if (listenSocket) uws.us_listen_socket_close(listenSocket);
});
