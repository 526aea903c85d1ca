import type { ActionDefinition } from '../action.js';

/** Takes the socket out of its channel. No answer. */
export const channelDisconnect: ActionDefinition = {
  name: 'channel-disconnect',
  handle: (context) => context.hub.leave(context.session),
};
