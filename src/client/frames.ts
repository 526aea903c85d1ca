import type { Presence, ServerFrame } from './types.js';

/** A server frame out of a text message; undefined for text that is not an envelope. */
export function parseFrame(text: string): ServerFrame | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const frame = parsed as Record<string, unknown>;
  return typeof frame['action'] === 'string' ? (frame as unknown as ServerFrame) : undefined;
}

/** The `data` of connection-info and presence frames: a JSON object encoded as a string. */
function innerObject(frame: ServerFrame): Record<string, unknown> | undefined {
  if (typeof frame.data !== 'string' || !frame.data.startsWith('{')) return undefined;
  try {
    const inner: unknown = JSON.parse(frame.data);
    return typeof inner === 'object' && inner !== null ? (inner as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** This socket's fd, when `frame` is connection-info. */
export function connectionFd(frame: ServerFrame): number | undefined {
  if (frame.action !== 'connection-info') return undefined;
  const fd = innerObject(frame)?.['fd'];
  return typeof fd === 'number' ? fd : undefined;
}

/** The presence change a channel-connect / channel-disconnect frame reports, if it is one. */
export function presenceOf(frame: ServerFrame): Presence | undefined {
  if (frame.action !== 'channel-connect' && frame.action !== 'channel-disconnect') return undefined;
  const inner = innerObject(frame);
  if (inner?.['event'] !== 'channel-presence') return undefined;
  const { fd, channel, fds, userIds, count } = inner;
  if (typeof fd !== 'number' || typeof channel !== 'string') return undefined;
  const kind = frame.action === 'channel-connect' ? 'join' : 'leave';
  // Above --presence-max-members the server sends the count only.
  if (!Array.isArray(fds)) return typeof count === 'number' ? { kind, fd, channel, count } : undefined;
  const members = fds.filter((member): member is number => typeof member === 'number');
  return {
    kind,
    fd,
    channel,
    count: members.length,
    fds: members,
    // PHP prints an empty map as [].
    userIds: typeof userIds === 'object' && userIds !== null && !Array.isArray(userIds) ? (userIds as Record<string, string | number>) : {},
  };
}

/** The server's words when it refused a channel-connect (a non-presence channel-connect frame). */
export function joinRefusal(frame: ServerFrame): string | undefined {
  if (frame.action !== 'channel-connect' || presenceOf(frame) !== undefined) return undefined;
  return typeof frame.data === 'string' ? frame.data : JSON.stringify(frame.data);
}
