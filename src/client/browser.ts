import { ConveyorClient } from './conveyor.js';
import { backgroundInterval, OPEN, type ClientSocket, type Platform } from './platform.js';
import type { ConveyorOptions } from './types.js';

/** The published client's heartbeat: a 2-byte binary frame that the server ignores. */
const HEARTBEAT = new Uint8Array([0x89, 0x00]);

/**
 * Browsers: the native WebSocket, which cannot send pings or custom headers. The
 * heartbeat is the published client's binary frame; a link whose heartbeats stop leaving
 * (the send queue only grows) is counted dead.
 */
const browserPlatform: Platform = {
  connect: (url, subprotocol) => new WebSocket(url, subprotocol) as unknown as ClientSocket,
  heartbeat(socket, intervalMs, _pongTimeoutMs, dead) {
    const ws = socket as unknown as WebSocket;
    let queuedAtLastBeat = 0;
    const timer = backgroundInterval(() => {
      if (ws.readyState !== OPEN) return dead();
      if (ws.bufferedAmount > 0 && ws.bufferedAmount >= queuedAtLastBeat + HEARTBEAT.byteLength) return dead();
      queuedAtLastBeat = ws.bufferedAmount;
      ws.send(HEARTBEAT);
    }, intervalMs);
    return () => clearInterval(timer);
  },
  kill: (socket) => socket.close(4000, 'heartbeat lost'),
};

/** The Socket Conveyor client for browsers. `new Conveyor(options)` connects at once. */
export default class Conveyor extends ConveyorClient {
  constructor(options: Partial<ConveyorOptions> = {}) {
    super(options, browserPlatform);
  }
}

export { Conveyor, ConveyorClient };
export type { ConveyorEvents, ConveyorOptions, Presence, ServerFrame } from './types.js';
