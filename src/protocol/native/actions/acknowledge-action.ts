import { FrameErrors, ProtocolErrors } from '../../../errors.js';
import { isSet, type ActionDefinition } from '../action.js';

/** The socket received pushed message `data`: stop re-sending it to this socket. No answer. */
export const acknowledgeAction: ActionDefinition = {
  name: 'acknowledge-action',
  validate: (frame) => {
    if (!isSet(frame['data'])) return ProtocolErrors.ackDataMissing;
    return typeof frame['data'] === 'string' ? undefined : { error: FrameErrors.wrongType('data', 'the string id of the acknowledged message') };
  },
  handle: (context, frame) => context.hub.acknowledge(context.session, frame['data'] as string),
};
