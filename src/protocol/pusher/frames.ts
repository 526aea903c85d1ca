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

/** `pusher:error`; its data is an object, not a string (Pusher sends it so). */
export function errorFrame(code: number | null, message: string): string {
  return JSON.stringify({ event: 'pusher:error', data: { code, message } });
}
