import { ProtocolErrors } from '../errors.js';
import { envelope } from '../protocol/native/envelope.js';
import { secretsEqual } from '../tokens.js';
import type { FanoutInput, FanoutOutput, TaskEnvironment } from './types.js';

/**
 * Plans a fanout: checks the data and the server token, and serialises the one frame
 * every open socket will receive.
 */
export function fanoutTask(input: FanoutInput, env: TaskEnvironment): FanoutOutput {
  if (!input.hasData) return { ok: false, error: ProtocolErrors.fanoutDataMissing };
  if (env.token !== undefined) {
    if (input.auth === undefined || input.auth === null) return { ok: false, error: ProtocolErrors.fanoutAuthMissing };
    if (typeof input.auth !== 'string' || !secretsEqual(input.auth, env.token)) {
      return { ok: false, error: ProtocolErrors.fanoutAuthFailed };
    }
  }
  return { ok: true, frame: envelope('fanout-action', input.data, input.fd, input.ackId) };
}
