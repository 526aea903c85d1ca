/** Close and error codes of the Pusher protocol that this server uses. */
export const PusherCloseCodes = {
  unknownApp: 4001,
  appDisabled: 4003,
  overQuota: 4004,
  unsupportedProtocol: 4007,
  noProtocol: 4008,
  unauthorized: 4009,
  overCapacity: 4100,
  reconnect: 4200,
  pongTimeout: 4201,
  clientEventRate: 4301,
} as const;

/** A server → client frame; `data` is a JSON string on the wire, as pusher-js expects. */
export function pusherFrame(event: string, data: string, channel?: string): string {
  return JSON.stringify(channel === undefined ? { event, data } : { event, channel, data });
}

/** `pusher_internal:member_added`, for the other members of a presence channel. */
export function memberAddedFrame(channel: string, member: { id: string; info: unknown }): string {
  return pusherFrame('pusher_internal:member_added', JSON.stringify({ user_id: member.id, user_info: member.info }), channel);
}

/** `pusher_internal:member_removed`: a user's last connection left the presence channel. */
export function memberRemovedFrame(channel: string, userId: string): string {
  return pusherFrame('pusher_internal:member_removed', JSON.stringify({ user_id: userId }), channel);
}

/** `pusher:error`; its data is an object, not a string (Pusher sends it so). */
export function errorFrame(code: number | null, message: string): string {
  return JSON.stringify({ event: 'pusher:error', data: { code, message } });
}
