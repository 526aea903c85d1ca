import { FrameErrors, ProtocolErrors } from '../../../errors.js';
import { isSet, type ActionDefinition } from '../action.js';

/** Presence frames carry every member's user id: a long one would make each of them huge. */
export const MAX_USER_ID_BYTES = 256;

/** Associates a user id (integer or string, kept as sent) with the socket. No answer. */
export const assocUserToFdAction: ActionDefinition = {
  name: 'assoc-user-to-fd-action',
  validate: (frame) => {
    const userId = frame['userId'];
    if (!isSet(userId) || userId === '') return ProtocolErrors.userIdMissing;
    if (typeof userId === 'string') return Buffer.byteLength(userId, 'utf8') > MAX_USER_ID_BYTES ? { error: FrameErrors.userIdTooLong(MAX_USER_ID_BYTES) } : undefined;
    if (typeof userId === 'number' && Number.isFinite(userId)) return undefined;
    return { error: FrameErrors.wrongType('userId', 'an integer or a string') };
  },
  handle: (context, frame) => context.hub.assoc(context.session, frame['userId'] as string | number),
};
