import { browserPlatform } from './browser-platform.js';
import { ConveyorClient } from './conveyor.js';
import type { Platform } from './platform.js';
import type { ConveyorOptions } from './types.js';

// Resolved when the first client is made, so that merely loading the bundle needs no WebSocket.
let platform: Platform | undefined;

/** The Socket Conveyor client for browsers, on the native WebSocket. `new Conveyor(options)` connects at once. */
export default class Conveyor extends ConveyorClient {
  constructor(options: Partial<ConveyorOptions> = {}) {
    super(options, (platform ??= browserPlatform(globalThis.WebSocket)));
  }
}

export { Conveyor, ConveyorClient };
export { DEFAULT_OPTIONS } from './options.js';
export type { ConveyorEvents, ConveyorOptions, OverflowPolicy, Presence, ServerFrame } from './types.js';
