import assert from 'node:assert/strict';
import type { FrameClient } from './frame-client.js';
import { awaitFrame, envelope } from './conformance.js';

export interface ScriptOptions {
  /** The server runs with --broadcast-self. */
  broadcastSelf?: boolean;
  /** The server runs with --presence; `maxMembers` is its --presence-max-members. */
  presence?: { maxMembers: number };
  /** Extra fields of the marker fanouts, such as the `auth` a server token requires. */
  fanoutFields?: Record<string, unknown>;
}

/**
 * A presence frame with its member list in ascending fd order, everything else as sent:
 * the order of members is not part of the contract, the rest of the frame is.
 */
export function canonicalPresence(frame: string): string {
  let outer: Record<string, unknown>;
  let inner: Record<string, unknown>;
  try {
    outer = JSON.parse(frame) as Record<string, unknown>;
    if (typeof outer['data'] !== 'string') return frame;
    inner = JSON.parse(outer['data']) as Record<string, unknown>;
  } catch {
    return frame;
  }
  if (typeof inner !== 'object' || inner === null || inner['event'] !== 'channel-presence' || !Array.isArray(inner['fds'])) return frame;
  inner['fds'] = [...(inner['fds'] as number[])].sort((a, b) => a - b);
  outer['data'] = JSON.stringify(inner);
  return JSON.stringify(outer);
}

/** The presence frame PROTOCOL.md describes, members in ascending fd order. */
export function presenceFrame(
  action: 'channel-connect' | 'channel-disconnect',
  fd: number,
  channel: string,
  members: readonly { fd: number; userId?: string | number | undefined }[],
  maxMembers = Infinity,
): string {
  if (members.length > maxMembers) return envelope(action, JSON.stringify({ fd, event: 'channel-presence', channel, count: members.length }));
  const userIds: Record<string, string | number> = {};
  for (const member of members) if (member.userId !== undefined) userIds[member.fd] = member.userId;
  const fds = members.map((m) => m.fd).sort((a, b) => a - b);
  return envelope(action, JSON.stringify({ fd, event: 'channel-presence', channel, fds, userIds }));
}

/**
 * Drives a group of clients through joins, leaves, closes and broadcasts while keeping,
 * per client, the exact list of frames it must have received. Every broadcast is followed
 * by a fanout from the same sender that all clients await: a frame wrongly delivered by
 * that broadcast travels the same path ahead of the fanout, so it is in the lists when
 * they are compared. With presence on, every membership change waits until each member
 * has its presence frame, so that the lists' order is the protocol's order.
 */
export class BroadcastScript {
  private readonly channel = new Map<FrameClient, string | null>();
  private readonly userIds = new Map<FrameClient, string | number>();
  private readonly expected = new Map<FrameClient, string[]>();
  private readonly marks = new Map<FrameClient, number>();
  private readonly open = new Set<FrameClient>();
  private step = 0;

  constructor(
    clients: readonly FrameClient[],
    private readonly options: ScriptOptions = {},
  ) {
    for (const client of clients) {
      this.open.add(client);
      this.channel.set(client, null);
      this.expected.set(client, []);
      this.marks.set(client, client.frames.length);
    }
  }

  /** `channel-connect`, which has no answer: the barrier's echo is the only frame back (presence aside). */
  async join(client: FrameClient, channel: string, extra: Record<string, unknown> = {}): Promise<void> {
    const previous = this.channel.get(client) ?? null;
    client.send({ action: 'channel-connect', channel, ...extra });
    if (previous === channel) {
      await this.barrier(client);
      return;
    }
    this.channel.set(client, channel);
    const awaited: Promise<unknown>[] = [];
    if (previous !== null) awaited.push(...this.announce('channel-disconnect', client, previous));
    awaited.push(...this.announce('channel-connect', client, channel));
    // The joiner's own presence frame comes before the answer to its next frame.
    await this.barrier(client);
    await Promise.all(awaited);
  }

  /** `channel-disconnect`, which has no answer either. */
  async leave(client: FrameClient): Promise<void> {
    const previous = this.channel.get(client) ?? null;
    client.send({ action: 'channel-disconnect' });
    this.channel.set(client, null);
    const awaited = previous === null ? [] : this.announce('channel-disconnect', client, previous);
    await this.barrier(client);
    await Promise.all(awaited);
  }

  /** `assoc-user-to-fd-action`: no answer; the id shows in later presence frames. */
  async assoc(client: FrameClient, userId: string | number): Promise<void> {
    client.send({ action: 'assoc-user-to-fd-action', userId });
    await this.barrier(client);
    this.userIds.set(client, userId);
  }

  /** Closes a client: the remaining members of its channel hear it left. */
  async close(client: FrameClient): Promise<void> {
    const previous = this.channel.get(client) ?? null;
    this.open.delete(client);
    this.channel.delete(client);
    client.close();
    await client.closed;
    if (previous !== null) await Promise.all(this.announce('channel-disconnect', client, previous));
  }

  /** A broadcast from `sender`, then its fanout marker, awaited by every client. */
  async broadcast(sender: FrameClient, data: unknown): Promise<void> {
    const group = this.channel.get(sender);
    sender.send({ action: 'broadcast-action', data });
    const marker = `marker-${++this.step}`;
    sender.send({ action: 'fanout-action', data: marker, ...this.options.fanoutFields });
    const markerFrame = envelope('fanout-action', marker, sender.fd);
    for (const client of this.open) {
      const list = this.expected.get(client)!;
      if (this.channel.get(client) === group && (client !== sender || this.options.broadcastSelf)) list.push(envelope('broadcast-action', data, sender.fd));
      list.push(markerFrame);
    }
    await Promise.all([...this.open].map((c) => awaitFrame(c, (f) => f === markerFrame, this.marks.get(c))));
  }

  /** Forgets what `client` received so far, for frames a test has checked itself. */
  resync(client: FrameClient): void {
    this.marks.set(client, client.frames.length);
    this.expected.set(client, []);
  }

  /** Every client received exactly its expected frames, in order, and nothing else. */
  verify(): void {
    for (const [client, expected] of this.expected) {
      const received = client.frames.slice(this.marks.get(client)).map(canonicalPresence);
      assert.deepEqual(received, expected, `frames of fd ${client.fd}`);
    }
  }

  /** Expects the presence frame of a change at every member of `channel` now; returns their waits. */
  private announce(action: 'channel-connect' | 'channel-disconnect', subject: FrameClient, channel: string): Promise<unknown>[] {
    if (!this.options.presence) return [];
    const members = [...this.open].filter((c) => this.channel.get(c) === channel);
    if (members.length === 0) return [];
    const frame = presenceFrame(
      action,
      subject.fd,
      channel,
      members.map((m) => ({ fd: m.fd, userId: this.userIds.get(m) })),
      this.options.presence.maxMembers,
    );
    return members.map((member) => {
      const list = this.expected.get(member)!;
      // Counting earlier equal frames keeps a repeated change from matching the previous one.
      const seen = list.filter((f) => f === frame).length;
      list.push(frame);
      return awaitFrame(member, (f) => canonicalPresence(f) === frame, this.marks.get(member), seen);
    });
  }

  private async barrier(client: FrameClient): Promise<void> {
    const tag = `barrier-${++this.step}`;
    await client.barrier(tag);
    this.expected.get(client)!.push(envelope('base-action', tag, client.fd));
  }
}
