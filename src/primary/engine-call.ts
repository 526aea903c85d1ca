import { ServiceUnavailable } from '../errors.js';
import type { PrimaryMessage } from '../ipc/messages.js';
import { isOperation, type Engine, type RegistryCall } from '../registry/engine.js';

/** A request's failure as its answer: a ServiceUnavailable tells the worker to answer 503 or its error frame. */
export function failedResponse(id: number, error: unknown): PrimaryMessage {
  return error instanceof ServiceUnavailable ? { type: 'response', id, ok: false, error: error.message, unavailable: true } : { type: 'response', id, ok: false, error: String(error) };
}

/** An operation's arguments back from JSON, which carries an absent one as null. */
function argsOf(call: RegistryCall): unknown[] {
  return call.args.map((arg: unknown) => (arg === null ? undefined : arg));
}

/** Runs a worker's call on the engine; a name that is not a registry operation throws (answered as an error, never a crash). */
export function perform(engine: Engine, worker: number, call: RegistryCall): unknown {
  if (!isOperation(call.op)) throw new Error(`no registry operation ${JSON.stringify(call.op)}`);
  const operation = engine[call.op] as (worker: number, ...args: unknown[]) => unknown;
  return operation.call(engine, worker, ...argsOf(call));
}
