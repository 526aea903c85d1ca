import WebSocket from 'ws';
import { backgroundInterval, backgroundTimeout, type ClientSocket, type Platform } from './platform.js';

/** 4xx answers that will not change by asking again; 408, 425 and 429 say "later". */
export function isPermanentRefusal(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 425 && status !== 429;
}

/**
 * Node: `ws` sockets, custom handshake headers, and WebSocket pings with a pong timeout
 * (a silently dead TCP link answers nothing, so the missing pong is what reveals it).
 */
export const nodePlatform: Platform = {
  connect: ({ url, subprotocol, headers }) => new WebSocket(url, subprotocol ?? [], headers ? { headers } : {}) as unknown as ClientSocket,

  heartbeat(socket, intervalMs, pongTimeoutMs, dead) {
    const ws = socket as unknown as WebSocket;
    let waiting: ReturnType<typeof setTimeout> | undefined;
    const onPong = (): void => {
      clearTimeout(waiting);
      waiting = undefined;
    };
    ws.on('pong', onPong);
    const timer = backgroundInterval(() => {
      if (waiting !== undefined || ws.readyState !== WebSocket.OPEN) return;
      ws.ping();
      waiting = backgroundTimeout(dead, pongTimeoutMs);
    }, intervalMs);
    return () => {
      clearInterval(timer);
      clearTimeout(waiting);
      ws.off('pong', onPong);
    };
  },

  kill: (socket) => (socket as unknown as WebSocket).terminate(),

  // `ws` reports the HTTP status of a refused upgrade in its error.
  async refusal(_request, error) {
    const status = /Unexpected server response: (\d{3})/.exec(error?.message ?? '')?.[1];
    return status !== undefined && isPermanentRefusal(Number(status)) ? `the server refused the handshake with HTTP ${status}` : undefined;
  },
};
