import type { ActionDefinition } from '../action.js';

/** Sends `data` to every open socket, the sender included; planned by a task thread. */
export const fanoutAction: ActionDefinition = {
  name: 'fanout-action',
  async handle(context, frame) {
    const ackId = context.hub.newAckId();
    const plan = await context.hub.fanout({
      fd: context.session.fd,
      hasData: frame['data'] !== undefined && frame['data'] !== null,
      data: frame['data'],
      auth: frame['auth'],
      ...(ackId ? { ackId } : {}),
    });
    if (!plan.ok) return context.reply('fanout-action', plan.error);
    context.hub.publish('all', plan.frame, ackId ? { ackId } : {});
  },
};
