import WebSocket from 'ws';
import { ConveyorClient } from './conveyor.js';
import { backgroundInterval, type ClientSocket, type Platform } from './platform.js';
import type { ConveyorOptions } from './types.js';

/**
 * Node: `ws` sockets, custom handshake headers, and WebSocket pings with a pong timeout
 * (a silently dead TCP link answers nothing, so the missing pong is what reveals it).
 */
const nodePlatform: Platform = {
  connect: (url, subprotocol, headers) => new WebSocket(url, subprotocol, headers ? { headers } : {}) as unknown as ClientSocket,
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
      waiting = setTimeout(dead, pongTimeoutMs);
      (waiting as { unref?: () => void }).unref?.();
    }, intervalMs);
    return () => {
      clearInterval(timer);
      clearTimeout(waiting);
      ws.off('pong', onPong);
    };
  },
  kill: (socket) => (socket as unknown as WebSocket).terminate(),
};

/** The Socket Conveyor client for Node. `new Conveyor(options)` connects at once. */
export default class Conveyor extends ConveyorClient {
  constructor(options: Partial<ConveyorOptions> = {}) {
    super(options, nodePlatform);
  }
}

export { Conveyor, ConveyorClient };
export type { ConveyorEvents, ConveyorOptions, Presence, ServerFrame } from './types.js';
export type { OverflowPolicy } from './outbox.js';
