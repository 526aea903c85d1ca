import { envelope } from '../protocol/native/envelope.js';
import type { FanoutInput, FanoutOutput } from './types.js';

/**
 * Plans a fanout: serialises the one frame every open socket will receive. The worker has
 * already checked the data and the server token, so nothing refused travels this far.
 */
export function fanoutTask(input: FanoutInput): FanoutOutput {
  return { frame: envelope('fanout-action', input.data, input.fd, input.ackId) };
}
