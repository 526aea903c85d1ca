/**
 * Every topic name the server uses, in one place: the uWS topics of the event workers, the
 * router's table of which worker holds what, and the Redis channels of the node link all
 * derive from these. Each kind has its own prefix, so that no channel name of one protocol
 * can stand for another's topic.
 */

/** Every native socket: channel-less broadcasts to everyone. */
export const ALL_TOPIC = 'all';
/** Native sockets in no channel. */
export const LOBBY_TOPIC = 'lobby';

const CHANNEL = 'ch:';
const HISTORY = 'h|';
const PUSHER_CHANNEL = 'p:';
const PUSHER_USER = 'pu:';
const GROUP = 'g:';

/** A native channel's topic. */
export function channelTopic(channel: string): string {
  return `${CHANNEL}${channel}`;
}

/** Whether `topic` is a native channel's. */
export function isChannelTopic(topic: string): boolean {
  return topic.startsWith(CHANNEL);
}

/** The native channel a channel topic names. */
export function channelOfTopic(topic: string): string {
  return topic.slice(CHANNEL.length);
}

/** The topic of a channel's numbered frames (--history): members get them once their replay is out. */
export function historyTopic(topic: string): string {
  return `${HISTORY}${topic}`;
}

/** Whether frames published to `topic` are numbered: with --history, a native channel's. */
export function isNumbered(history: number, topic: string): boolean {
  return history > 0 && isChannelTopic(topic);
}

/** A Pusher app's channel. */
export function pusherTopic(appId: string, channel: string): string {
  return `${PUSHER_CHANNEL}${appId}:${channel}`;
}

/** Every signed-in connection of a Pusher user, for server-to-user events. */
export function userTopic(appId: string, userId: string): string {
  return `${PUSHER_USER}${appId}:${userId}`;
}

/** A WebSocket app's group: the app's path keeps groups of different apps apart. */
export function groupTopic(path: string, group: string): string {
  return `${GROUP}${path}:${group}`;
}

/** A group topic back into its path and group (paths have no colon, groups may). */
export function splitGroupTopic(topic: string): [string, string] {
  const rest = topic.slice(GROUP.length);
  const colon = rest.indexOf(':');
  return [rest.slice(0, colon), rest.slice(colon + 1)];
}
