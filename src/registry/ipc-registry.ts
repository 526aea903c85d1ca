import type { PrimaryLink } from '../ipc/primary-link.js';
import { RosterReceiver, type SharedRoster } from '../ipc/roster-share.js';
import { ONE_WAY_OPERATIONS, type AskedOperation, type OperationArgs, type OperationResult, type RegistryCall } from './engine.js';
import type { Registry } from './registry.js';

const ONE_WAY: ReadonlySet<string> = new Set(ONE_WAY_OPERATIONS);

/**
 * The registry in the primary, reached over the cluster channel: one generic ask for every
 * operation. A presence roster comes once per worker while it stays the same, so an answer
 * carrying one is completed from what this worker holds, as it arrives (in order).
 */
export function ipcRegistry(link: PrimaryLink): Registry {
  const rosters = new RosterReceiver();

  async function ask<K extends AskedOperation>(op: K, args: OperationArgs<K>, onArrival?: (result: OperationResult<K>) => void): Promise<OperationResult<K>> {
    let lost: unknown;
    const result = await link.request<OperationResult<K>>({ kind: 'registry', call: { op, args } as RegistryCall }, (arrived) => {
      // Inside the IPC handler: a throw here would end the worker, so it fails this request alone.
      try {
        const shared = (arrived as { roster?: SharedRoster } | null)?.roster;
        if (shared !== undefined) (arrived as { roster: SharedRoster }).roster = { key: shared.key, json: rosters.take(shared) };
        onArrival?.(arrived);
      } catch (error) {
        lost = error;
      }
    });
    if (lost !== undefined) throw lost;
    return result;
  }

  const fixed = {
    inOrder: <K extends AskedOperation>(op: K, onArrival: (result: OperationResult<K>) => void, ...args: OperationArgs<K>) => ask(op, args, onArrival),
    stats: () => link.request({ kind: 'stats', view: 'stats' }),
    dashboard: () => link.request({ kind: 'stats', view: 'dashboard' }),
  };
  return new Proxy(fixed, {
    get(target, op) {
      // Not a thenable: an async function may return the registry itself.
      if (typeof op !== 'string' || op === 'then' || op in target) return Reflect.get(target, op) as unknown;
      if (ONE_WAY.has(op)) return (...args: unknown[]) => link.send({ type: 'registry', call: { op, args } as RegistryCall });
      return (...args: unknown[]) => ask(op as AskedOperation, args as OperationArgs<AskedOperation>);
    },
  }) as unknown as Registry;
}
