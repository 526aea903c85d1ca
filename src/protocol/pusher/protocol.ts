import type { PusherApp } from '../../apps/apps.js';
import type { Logger } from '../../log.js';
import type { PresenceMember, PusherJoinResult } from '../../registry/engine.js';
import { TokenBucket } from '../token-bucket.js';
import { channelType } from '../../channel-types.js';
import { USER_CHANNEL_PREFIX, channelNameProblem } from './channels.js';
import { PusherCloseCodes, errorFrame, pusherFrame } from './frames.js';
import { channelAuthValid, signinValid } from './signatures.js';
import { nestsDeeperThan } from '../json-depth.js';
import { pusherTopic, userTopic } from '../../topics.js';

/** One Pusher connection's state. */
export interface PusherSession {
  readonly fd: number;
  /** The random part of the socket_id (`fd.secret`); the string is made when asked (socketIdOf), not kept per socket. */
  readonly socketSecret: number;
  readonly app: PusherApp;
  /** Subscribed channels, each with the member it subscribed as (presence channels); made at the first subscription. */
  channels: Map<string, PresenceMember | undefined> | undefined;
  /**
   * Channels whose subscription is being decided, each with whether the client still wants it
   * (an unsubscribe meanwhile says no, a subscribe again yes); made at the first subscribe.
   */
  joining: Map<string, boolean> | undefined;
  user: string | undefined;
  /** Made at the first client event: most connections never send one. */
  clientEvents: TokenBucket | undefined;
}

/** What the Pusher protocol may do, and nothing more: the worker implements it over uWS topics and the registry. */
export interface PusherHub {
  send(session: PusherSession, frame: string): void;
  disconnect(session: PusherSession, code: number, reason: string): void;
  subscribe(session: PusherSession, topic: string): void;
  unsubscribe(session: PusherSession, topic: string): void;
  /** Publishes to a channel's subscribers on every worker, the sender left out; false when refused for load. */
  publish(session: PusherSession, topic: string, frame: string): boolean;
  join(session: PusherSession, channel: string, member: PresenceMember | undefined): Promise<PusherJoinResult>;
  leave(session: PusherSession, channel: string): Promise<void>;
  signin(session: PusherSession, userId: string): Promise<void>;
  /** Keeps the last event of a cache channel. */
  remember(session: PusherSession, channel: string, frame: string): void;
  clientEventHook(session: PusherSession, channel: string, event: string, data: unknown, userId: string | undefined): void;
}

/** The socket_id the client was given: `fd.secret`. */
export function socketIdOf(session: PusherSession): string {
  return `${session.fd}.${session.socketSecret}`;
}

type Frame = Record<string, unknown> & { event: string };

const CLIENT_EVENT_BURST_SECONDS = 3;

/**
 * The Pusher Channels protocol, version 7 (PUSHER.md): subscriptions with their signatures,
 * presence, client events, user sign-in and keep-alive. It parses each frame once and
 * never throws on what a client sends: what it cannot act on gets a `pusher:error`.
 */
export class PusherProtocol {
  /** The last roster frame made: a storm of joins to one channel shares it while the roster stays the same. */
  private lastRoster: { channel: string; json: string; frame: string } | undefined;

  constructor(
    private readonly hub: PusherHub,
    private readonly log: Logger,
    private readonly maxJsonDepth: number,
  ) {}

  private rosterFrame(channel: string, json: string): string {
    const last = this.lastRoster;
    if (last?.channel === channel && last.json === json) return last.frame;
    const frame = pusherFrame('pusher_internal:subscription_succeeded', `{"presence":${json}}`, channel);
    this.lastRoster = { channel, json, frame };
    return frame;
  }

  message(session: PusherSession, text: string): void {
    if (nestsDeeperThan(text, this.maxJsonDepth)) return this.hub.send(session, errorFrame(null, `Frame nests arrays and objects deeper than ${this.maxJsonDepth} levels`));
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch {
      return this.hub.send(session, errorFrame(null, 'Frame must be JSON: {"event":"…","data":…}'));
    }
    if (typeof frame !== 'object' || frame === null || Array.isArray(frame) || typeof (frame as Frame).event !== 'string') {
      return this.hub.send(session, errorFrame(null, 'Frame must be a JSON object with a string "event"'));
    }
    const { event } = frame as Frame;
    if (event.startsWith('client-')) return this.clientEvent(session, frame as Frame);
    // Only the protocol's own events have a data object to read; a client event's is relayed as it came.
    const data = dataObject((frame as Frame)['data']);
    switch (event) {
      case 'pusher:ping':
        return this.hub.send(session, pusherFrame('pusher:pong', '{}'));
      case 'pusher:pong':
        return;
      case 'pusher:subscribe':
        return void this.subscribe(session, data).catch((error: unknown) => this.failed(session, error));
      case 'pusher:unsubscribe':
        return void this.unsubscribe(session, data).catch((error: unknown) => this.failed(session, error));
      case 'pusher:signin':
        return void this.signin(session, data).catch((error: unknown) => this.failed(session, error));
    }
    this.hub.send(session, errorFrame(null, `Unknown event ${JSON.stringify(event.slice(0, 64))}: send pusher:subscribe, pusher:unsubscribe, pusher:signin, pusher:ping or client-* events`));
  }

  private async subscribe(session: PusherSession, data: Record<string, unknown> | undefined): Promise<void> {
    const channel = data?.['channel'];
    const problem = channelNameProblem(channel);
    if (problem !== undefined || typeof channel !== 'string') {
      return this.hub.send(session, errorFrame(null, `pusher:subscribe: ${problem ?? 'data.channel is required'}`));
    }
    const refuse = (message: string, status = 401, type = 'AuthError'): void =>
      this.hub.send(session, JSON.stringify({ event: 'pusher:subscription_error', channel, data: { type, error: message, status } }));
    if (channel.startsWith(USER_CHANNEL_PREFIX)) {
      // pusher-js subscribes to its own user channel after signing in; the socket is in its topic since the signin.
      if (session.user === undefined || channel !== USER_CHANNEL_PREFIX + session.user) return refuse('Only the signed-in user may subscribe to its own #server-to-user channel', 403);
      return this.hub.send(session, pusherFrame('pusher_internal:subscription_succeeded', '{}', channel));
    }
    if (session.channels?.has(channel)) return;
    if (session.joining?.has(channel)) {
      // Subscribed again after an unsubscribe while the first was being decided: wanted after all.
      if (session.joining.get(channel) === false) {
        session.joining.set(channel, true);
        this.hub.subscribe(session, pusherTopic(session.app.id, channel));
      }
      return;
    }
    const held = (session.channels?.size ?? 0) + (session.joining?.size ?? 0);
    if (held >= session.app.maxChannelsPerConnection) {
      return refuse(`This connection is subscribed to ${session.app.maxChannelsPerConnection} channels, the app's maxChannelsPerConnection: unsubscribe from one first`, 429, 'LimitReached');
    }
    const { kind, cache } = channelType(channel);
    let member: PresenceMember | undefined;
    if (kind !== 'public') {
      const channelData = kind === 'presence' ? data?.['channel_data'] : undefined;
      if (kind === 'presence' && typeof channelData !== 'string') return refuse('Presence channels need channel_data, the JSON string the signature covers');
      if (!channelAuthValid(session.app, socketIdOf(session), channel, data?.['auth'], channelData as string | undefined)) {
        return refuse(`Invalid signature for ${channel}: sign "socket_id:channel${kind === 'presence' ? ':channel_data' : ''}" with the app secret`);
      }
      if (kind === 'presence') {
        member = presenceMember(channelData as string);
        if (!member) return refuse('channel_data must be a JSON object with a "user_id" (string or number) and an optional "user_info"', 400, 'InvalidChannelData');
      }
    }
    (session.joining ??= new Map()).set(channel, true);
    // Subscribe before the registry knows: a member event or publication routed here after it must find the socket.
    const topic = pusherTopic(session.app.id, channel);
    this.hub.subscribe(session, topic);
    let result: PusherJoinResult;
    let wanted = true;
    try {
      result = await this.hub.join(session, channel, member);
    } finally {
      wanted = session.joining?.get(channel) ?? false;
      session.joining?.delete(channel);
    }
    if (!wanted) {
      // Unsubscribed before the answer: it was never told it joined, and now leaves.
      if (result.ok) await this.hub.leave(session, channel);
      return;
    }
    if (!result.ok) {
      this.hub.unsubscribe(session, topic);
      return refuse(`Presence channel ${channel} is full (${session.app.maxPresenceMembers} members)`, 403, 'LimitReached');
    }
    (session.channels ??= new Map()).set(channel, member);
    this.hub.send(session, result.roster !== undefined ? this.rosterFrame(channel, result.roster.json) : pusherFrame('pusher_internal:subscription_succeeded', '{}', channel));
    if (cache) {
      if (result.cached) this.hub.send(session, result.cached);
      else this.hub.send(session, pusherFrame('pusher:cache_miss', '{}', channel));
    }
  }

  private async unsubscribe(session: PusherSession, data: Record<string, unknown> | undefined): Promise<void> {
    const channel = data?.['channel'];
    if (typeof channel === 'string' && session.joining?.get(channel) === true) {
      // Before its subscription_succeeded: nothing more reaches it, and the join is undone once answered.
      session.joining.set(channel, false);
      this.hub.unsubscribe(session, pusherTopic(session.app.id, channel));
      return;
    }
    if (typeof channel !== 'string' || !session.channels?.has(channel)) return;
    session.channels.delete(channel);
    this.hub.unsubscribe(session, pusherTopic(session.app.id, channel));
    await this.hub.leave(session, channel);
  }

  private async signin(session: PusherSession, data: Record<string, unknown> | undefined): Promise<void> {
    if (!session.app.userAuthentication) return this.hub.send(session, errorFrame(4009, 'User authentication is off for this app'));
    const userData = data?.['user_data'];
    const user = typeof userData === 'string' ? userOf(userData) : undefined;
    if (typeof userData !== 'string' || !signinValid(session.app, socketIdOf(session), userData, data?.['auth']) || user === undefined) {
      this.hub.send(session, errorFrame(PusherCloseCodes.unauthorized, 'Invalid signin: sign "socket_id::user::user_data" with the app secret; user_data needs an "id"'));
      return this.hub.disconnect(session, PusherCloseCodes.unauthorized, 'Invalid signin');
    }
    if (session.user !== undefined && session.user !== user) this.hub.unsubscribe(session, userTopic(session.app.id, session.user));
    session.user = user;
    this.hub.subscribe(session, userTopic(session.app.id, user));
    await this.hub.signin(session, user);
    this.hub.send(session, pusherFrame('pusher:signin_success', JSON.stringify({ user_data: userData })));
  }

  private clientEvent(session: PusherSession, frame: Frame): void {
    const { app } = session;
    const channel = frame['channel'];
    const refuse = (code: number, message: string): void => this.hub.send(session, errorFrame(code, message));
    if (!app.clientEvents) return refuse(PusherCloseCodes.unauthorized, 'Client events are off for this app: enable them on the server (clientEvents)');
    if (typeof channel !== 'string') return refuse(PusherCloseCodes.unauthorized, 'A client event needs a "channel"');
    const { kind } = channelType(channel);
    if (kind === 'public' || kind === 'encrypted') return refuse(PusherCloseCodes.unauthorized, `Client events are only for private and presence channels, not ${channel}`);
    if (!session.channels?.has(channel)) return refuse(PusherCloseCodes.unauthorized, `Subscribe to ${channel} before sending client events to it`);
    if (frame.event.length > app.maxEventNameLength) return refuse(PusherCloseCodes.unauthorized, `Event name is over ${app.maxEventNameLength} characters`);
    const data = frame['data'];
    const size = typeof data === 'string' ? Buffer.byteLength(data) : Buffer.byteLength(JSON.stringify(data ?? null));
    if (size > app.maxEventBytes) return refuse(PusherCloseCodes.unauthorized, `Event data is ${size} bytes; the app's limit is ${app.maxEventBytes}`);
    // Three seconds' worth saved up: a client sending at exactly its rate is never refused for
    // frames that arrived bunched after a pause of its network or of this worker.
    session.clientEvents ??= new TokenBucket(app.clientEventRate, app.clientEventRate * CLIENT_EVENT_BURST_SECONDS);
    if (!session.clientEvents.take()) return refuse(PusherCloseCodes.clientEventRate, `Client event rate limit: at most ${app.clientEventRate} per second`);
    const userId = kind === 'presence' ? session.channels?.get(channel)?.id : undefined;
    const relayed = JSON.stringify({ event: frame.event, channel, data, ...(userId !== undefined ? { user_id: userId } : {}) });
    if (!this.hub.publish(session, pusherTopic(app.id, channel), relayed)) return refuse(PusherCloseCodes.reconnect, 'Server busy: the event was not delivered; send it again');
    this.hub.clientEventHook(session, channel, frame.event, data, userId);
  }

  /** Cleans up after a connection that closed: the registry drops its subscriptions itself. */
  closed(session: PusherSession): void {
    session.channels = undefined;
  }

  private failed(session: PusherSession, error: unknown): void {
    this.log.error({ err: error, fd: session.fd }, 'pusher frame failed');
    this.hub.send(session, errorFrame(null, 'The server could not process this frame; try again'));
  }
}

/** `data` of a client frame: an object, or a JSON string of one (both occur in the wild). */
function dataObject(data: unknown): Record<string, unknown> | undefined {
  if (typeof data === 'string') {
    try {
      data = JSON.parse(data);
    } catch {
      return undefined;
    }
  }
  return typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>) : undefined;
}

function presenceMember(channelData: string): PresenceMember | undefined {
  const parsed = dataObject(channelData);
  const id = parsed?.['user_id'];
  if (typeof id !== 'string' && typeof id !== 'number') return undefined;
  if (String(id) === '' || String(id).length > 256) return undefined;
  return { id: String(id), info: parsed?.['user_info'] ?? null };
}

function userOf(userData: string): string | undefined {
  const id = dataObject(userData)?.['id'];
  return (typeof id === 'string' || typeof id === 'number') && String(id) !== '' && String(id).length <= 256 ? String(id) : undefined;
}
