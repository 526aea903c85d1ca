import { ProtocolErrors } from '../../../errors.js';
import { isSet, type ActionDefinition } from '../action.js';

/** Echoes `data` to the sender, keeping its JSON type. */
export const baseAction: ActionDefinition = {
  name: 'base-action',
  validate: (frame) => (isSet(frame['data']) ? undefined : ProtocolErrors.baseDataMissing),
  handle: (context, frame) => context.reply('base-action', frame['data']),
};
