import { ProtocolErrors } from '../../../errors.js';
import { secretsEqual } from '../../../tokens.js';
import { isSet, type ActionDefinition } from '../action.js';

/**
 * Sends `data` to every open socket, the sender included; the frame is planned by a task
 * thread. Data and token are checked here first, so a refused fanout never leaves the worker.
 * The socket's next frames do not wait for the plan: their outputs are queued behind it.
 */
export const fanoutAction: ActionDefinition = {
  name: 'fanout-action',
  validate: (frame) => (isSet(frame['data']) ? undefined : ProtocolErrors.fanoutDataMissing),
  handle(context, frame) {
    const { token } = context.hub.options;
    if (token !== undefined) {
      const auth = frame['auth'];
      if (!isSet(auth)) return context.reply('fanout-action', ProtocolErrors.fanoutAuthMissing);
      if (typeof auth !== 'string' || !secretsEqual(auth, token)) return context.reply('fanout-action', ProtocolErrors.fanoutAuthFailed);
    }
    const refused = context.hub.fanout(context.session, frame['data'], context.frameSize);
    if (refused !== undefined) context.reply('error', refused);
  },
};
