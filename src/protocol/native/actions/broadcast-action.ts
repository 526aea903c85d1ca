import { ProtocolErrors } from '../../../errors.js';
import { isSet, type ActionDefinition } from '../action.js';

/** Sends `data` to the other sockets of the sender's channel (or the other channel-less ones). */
export const broadcastAction: ActionDefinition = {
  name: 'broadcast-action',
  validate: (frame) => (isSet(frame['data']) ? undefined : ProtocolErrors.broadcastDataMissing),
  handle: (context, frame) =>
    context.broadcast('broadcast-action', frame['data'], { includeSelf: context.hub.options.broadcastSelf }),
};
