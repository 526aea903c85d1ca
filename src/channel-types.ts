/**
 * What a Pusher channel's name makes it, as both the protocol (who may subscribe) and the
 * registry (presence rosters, cache channels) read it.
 */

/** What a channel's name makes it: who may subscribe, and whether its last event is kept. */
export type ChannelKind = 'public' | 'private' | 'presence' | 'encrypted';

export interface ChannelType {
  kind: ChannelKind;
  /** Cache channels replay their last event to each new subscriber. */
  cache: boolean;
}

export function channelType(name: string): ChannelType {
  const cache = /^(private-encrypted-|private-|presence-)?cache-/.test(name);
  if (name.startsWith('private-encrypted-')) return { kind: 'encrypted', cache };
  if (name.startsWith('private-')) return { kind: 'private', cache };
  if (name.startsWith('presence-')) return { kind: 'presence', cache };
  return { kind: 'public', cache };
}
