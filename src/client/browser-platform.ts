import { backgroundInterval, OPEN, type ClientSocket, type Platform } from './platform.js';

/** The published client's heartbeat: a 2-byte binary frame that the server ignores. */
export const HEARTBEAT_FRAME = new Uint8Array([0x89, 0x00]);

/** The constructor of a browser-style WebSocket (the browser's own, or `ws` in tests). */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => unknown;

/** The browser socket's extra we read: bytes queued but not yet handed to the network. */
interface Buffered {
  readonly bufferedAmount: number;
}

/**
 * Browsers: the native WebSocket, which can neither send pings nor set headers, and which
 * hides the HTTP status of a refused handshake. The WebSocket constructor is injected so
 * that this module never names Node's `ws`.
 */
export function browserPlatform(WebSocketClass: WebSocketConstructor): Platform {
  return {
    connect: ({ url, subprotocol }) =>
      (subprotocol === undefined ? new WebSocketClass(url) : new WebSocketClass(url, subprotocol)) as ClientSocket,

    // Sending is what makes a browser notice a dead link: unanswered TCP retransmissions end
    // in a close event, while a link that only listens can stay "open" forever. A send
    // buffer that only grows from one beat to the next is taken as dead at once.
    heartbeat(socket, intervalMs, _pongTimeoutMs, dead) {
      let queuedAtLastBeat = 0;
      const timer = backgroundInterval(() => {
        if (socket.readyState !== OPEN) return dead();
        const queued = (socket as unknown as Buffered).bufferedAmount ?? 0;
        if (queued > 0 && queued >= queuedAtLastBeat + HEARTBEAT_FRAME.byteLength) return dead();
        queuedAtLastBeat = queued;
        try {
          socket.send(HEARTBEAT_FRAME);
        } catch {
          dead();
        }
      }, intervalMs);
      return () => clearInterval(timer);
    },

    kill: (socket) => socket.close(4000, 'heartbeat lost'),

    // The browser says only "error" for a refused handshake and for a server that is down.
    // An HTTP answer from the same host and port tells them apart: the server is up, so it
    // refused us, and asking again with the same token would be refused again.
    async refusal({ url, hasToken }) {
      // Without a token there is nothing a retry could be refused for forever, and a proxy
      // whose backend is down answers HTTP too: keep retrying.
      if (!hasToken) return undefined;
      const probe = new URL(url);
      probe.protocol = probe.protocol === 'wss:' ? 'https:' : 'http:';
      probe.search = '';
      probe.pathname = '/';
      try {
        await fetch(probe, { mode: 'no-cors', signal: AbortSignal.timeout(5000) });
      } catch {
        return undefined;
      }
      return 'the server is up but refused the WebSocket handshake';
    },
  };
}
