import { ConveyorClient } from './conveyor.js';
import { nodePlatform } from './node-platform.js';
import type { ConveyorOptions } from './types.js';

/** The Socket Conveyor client for Node, on `ws`. `new Conveyor(options)` connects at once. */
export default class Conveyor extends ConveyorClient {
  constructor(options: Partial<ConveyorOptions> = {}) {
    super(options, nodePlatform);
  }
}

export { Conveyor, ConveyorClient };
export { DEFAULT_OPTIONS } from './options.js';
export type { ConveyorEvents, ConveyorOptions, OverflowPolicy, Presence, Recovery, ServerFrame } from './types.js';
