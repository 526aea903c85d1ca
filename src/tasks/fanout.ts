import { envelope } from '../protocol/native/envelope.js';
import type { FanoutInput, FanoutOutput } from './types.js';

/**
 * Plans fanouts: serialises, for each, the one frame every open socket will receive. The
 * worker has already checked the data and the server token, so nothing refused travels this far.
 */
export function fanoutTask(input: FanoutInput): FanoutOutput {
  return { frames: input.items.map((item) => envelope('fanout-action', item.data, item.fd, item.ackId)) };
}
