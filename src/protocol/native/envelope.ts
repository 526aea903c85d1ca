import type { PresenceSnapshot } from '../../registry/engine.js';
/**
 * The server → client envelope: `{"action","data","fd"}` in that order, `fd` only when a
 * socket caused the frame, `id` last when acknowledgments are on.
 */
export function envelope(action: string, data: unknown, fd?: number, id?: string): string {
  // Key order is part of the wire contract; JSON.stringify keeps insertion order and drops undefined.
  return JSON.stringify({ action, data, fd, id });
}

/** `connection-info`: its `data` is itself a JSON string, as PHP clients expect. */
export function connectionInfo(fd: number, id?: string): string {
  return envelope('connection-info', JSON.stringify({ fd, event: 'connection-info' }), undefined, id);
}

/** The answer to a client frame that carried an `id`: no `fd`, no `id` of its own. */
export function acknowledgeReply(id: string): string {
  return JSON.stringify({ action: 'acknowledge-action', data: id });
}


/**
 * A presence frame. Above `maxMembers`, or when the member list would make the frame
 * longer than `maxBytes`, only the count goes out: a member list per change costs
 * members² bytes across a large channel.
 */
export function presenceFrame(
  action: 'channel-connect' | 'channel-disconnect',
  fd: number,
  channel: string,
  snapshot: PresenceSnapshot,
  limits: { maxMembers: number; maxBytes: number },
  id?: string,
): string {
  const members = snapshot.count ?? snapshot.fds.length;
  if (members <= limits.maxMembers && members === snapshot.fds.length) {
    const full = envelope(action, JSON.stringify({ fd, event: 'channel-presence', channel, fds: snapshot.fds, userIds: snapshot.userIds }), undefined, id);
    if (Buffer.byteLength(full, 'utf8') <= limits.maxBytes) return full;
  }
  return envelope(action, JSON.stringify({ fd, event: 'channel-presence', channel, count: members }), undefined, id);
}
