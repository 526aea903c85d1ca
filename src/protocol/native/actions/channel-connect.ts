import { FrameErrors, ProtocolErrors } from '../../../errors.js';
import { secretsEqual } from '../../../tokens.js';
import { channelNameProblem } from '../channel-name.js';
import { isSet, type ActionDefinition, type ClientFrame } from '../action.js';

type ChannelConnectFrame = ClientFrame & { channel: string; auth?: string | null; since?: number; epoch?: string; limit?: number };

const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value >= 0;

/** Moves the socket into a channel (one channel per socket). No answer on success. */
export const channelConnect: ActionDefinition<ChannelConnectFrame> = {
  name: 'channel-connect',
  validate: (frame) => {
    const channel = frame['channel'];
    if (!isSet(channel) || channel === '') return ProtocolErrors.channelMissing;
    if (typeof channel !== 'string') return { error: FrameErrors.wrongType('channel', 'a string') };
    const problem = channelNameProblem(channel);
    if (problem) return { error: problem };
    const auth = frame['auth'];
    if (isSet(auth) && typeof auth !== 'string') return { error: FrameErrors.wrongType('auth', 'a string or null') };
    // Recovery (PROTOCOL.md, History and recovery): checked only when given.
    if (isSet(frame['since']) && !isCount(frame['since'])) return { error: FrameErrors.wrongType('since', 'a whole number, 0 or more') };
    if (isSet(frame['epoch']) && typeof frame['epoch'] !== 'string') return { error: FrameErrors.wrongType('epoch', 'a string') };
    if (isSet(frame['limit']) && !isCount(frame['limit'])) return { error: FrameErrors.wrongType('limit', 'a whole number, 0 or more') };
    return undefined;
  },
  async handle(context, frame) {
    const { token } = context.hub.options;
    if (token !== undefined) {
      const auth = frame.auth;
      if (!isSet(auth)) return context.reply('channel-connect', ProtocolErrors.channelAuthMissing);
      const allowed = secretsEqual(auth as string, token) || (await context.hub.consumeToken(auth as string, frame.channel));
      if (!allowed) return context.reply('channel-connect', ProtocolErrors.channelAuthFailed);
    }
    const recovery = isSet(frame.since)
      ? { since: frame.since as number, ...(isSet(frame.epoch) ? { epoch: frame.epoch as string } : {}), ...(isSet(frame.limit) ? { limit: frame.limit as number } : {}) }
      : undefined;
    await context.hub.join(context.session, frame.channel, recovery);
  },
};
