/** What a channel's name makes it: who may subscribe, and whether its last event is kept. */
export type ChannelKind = 'public' | 'private' | 'presence' | 'encrypted';

export interface ChannelType {
  kind: ChannelKind;
  /** Cache channels replay their last event to each new subscriber. */
  cache: boolean;
}

export const MAX_CHANNEL_NAME = 164;
const NAME_PATTERN = /^[A-Za-z0-9_\-=@,.;]+$/;
/** The server's own per-user channels: reachable through the HTTP API, never subscribable. */
export const USER_CHANNEL_PREFIX = '#server-to-user-';

export function channelType(name: string): ChannelType {
  const cache = /^(private-encrypted-|private-|presence-)?cache-/.test(name);
  if (name.startsWith('private-encrypted-')) return { kind: 'encrypted', cache };
  if (name.startsWith('private-')) return { kind: 'private', cache };
  if (name.startsWith('presence-')) return { kind: 'presence', cache };
  return { kind: 'public', cache };
}

/** Why a client may not use `name` as a channel, or undefined when it may (user channels are checked by their owner). */
export function channelNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name === '') return 'Channel name must be a non-empty string';
  if (name.startsWith(USER_CHANNEL_PREFIX) && name.length <= USER_CHANNEL_PREFIX.length + 256 && name.length > USER_CHANNEL_PREFIX.length) return undefined;
  if (name.length > MAX_CHANNEL_NAME) return `Channel name is ${name.length} characters long; the limit is ${MAX_CHANNEL_NAME}`;
  if (!NAME_PATTERN.test(name)) return 'Channel name may only contain letters, digits and _ - = @ , . ;';
  return undefined;
}
