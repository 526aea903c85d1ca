export const MAX_CHANNEL_NAME = 164;
const NAME_PATTERN = /^[A-Za-z0-9_\-=@,.;]+$/;
/** The server's own per-user channels: reachable through the HTTP API, never subscribable. */
export const USER_CHANNEL_PREFIX = '#server-to-user-';


/** Why a client may not use `name` as a channel, or undefined when it may (user channels are checked by their owner). */
export function channelNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name === '') return 'Channel name must be a non-empty string';
  if (name.startsWith(USER_CHANNEL_PREFIX) && name.length <= USER_CHANNEL_PREFIX.length + 256 && name.length > USER_CHANNEL_PREFIX.length) return undefined;
  if (name.length > MAX_CHANNEL_NAME) return `Channel name is ${name.length} characters long; the limit is ${MAX_CHANNEL_NAME}`;
  if (!NAME_PATTERN.test(name)) return 'Channel name may only contain letters, digits and _ - = @ , . ;';
  return undefined;
}
