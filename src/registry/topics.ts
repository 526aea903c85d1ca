/** Topic names shared by the event workers (uWS topics) and the router. */
export const ALL_TOPIC = 'all';
export const LOBBY_TOPIC = 'lobby';

/** A channel's topic; the prefix keeps channel names apart from the internal topics. */
export function channelTopic(channel: string): string {
  return `ch:${channel}`;
}
