import type { DashboardStats, ServerStats } from '../ipc/messages.js';
import type { AskedOperation, OneWayOperation, OperationArgs, OperationResult } from './engine.js';

/**
 * The registry as an event worker sees it: every engine operation without its worker (the
 * primary knows who asks), answered later; the one-way ones answer nothing. Derived from
 * RegistryOperations, so that it never lists an operation of its own.
 */
export type Registry = { [K in AskedOperation]: (...args: OperationArgs<K>) => Promise<OperationResult<K>> } & {
  [K in OneWayOperation]: (...args: OperationArgs<K>) => void;
} & {
  /**
   * Asks like the operation itself; `onArrival` runs as the answer is read, before any
   * publication that follows it (a recovering joiner takes the live frames from exactly there).
   */
  inOrder<K extends AskedOperation>(op: K, onArrival: (result: OperationResult<K>) => void, ...args: OperationArgs<K>): Promise<OperationResult<K>>;
  /** The server's statistics, and what the live dashboard adds. */
  stats(): Promise<ServerStats>;
  dashboard(): Promise<DashboardStats>;
};
