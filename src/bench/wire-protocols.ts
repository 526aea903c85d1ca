import { createHmac } from 'node:crypto';

/** The servers `conveyor bench` can drive. */
export const PROTOCOL_NAMES = ['conveyor', 'raw', 'socketio', 'pusher'] as const;
export type ProtocolName = (typeof PROTOCOL_NAMES)[number];

/**
 * How publishers publish: `broadcast` on their socket to their channel (Pusher: a client
 * event), `fanout` (Socket Conveyor only) to every socket, or `http` through the server's
 * HTTP API (Socket Conveyor's /conveyor/message, the Pusher HTTP API's events).
 */
export const PUBLISH_ACTIONS = ['broadcast', 'fanout', 'http'] as const;
export type PublishAction = (typeof PUBLISH_ACTIONS)[number];

/** The Pusher app a `--protocol pusher` run connects to and signs its subscriptions for. */
export interface PusherAppCredentials {
  readonly id: string;
  readonly key: string;
  readonly secret: string;
}

/** What to do after a text message during set-up. */
export type SetupStep =
  | { kind: 'wait' }
  | { kind: 'send'; frames: string[] }
  | { kind: 'ready' }
  | { kind: 'failed'; reason: string };

/** The text around a stamp in a message the generator sends. */
export interface Envelope {
  prefix: string;
  suffix: string;
}

/**
 * How one kind of server is spoken to: the upgrade path, the set-up exchange (join a
 * channel, know it took effect), and the frame around a stamp. The measured path itself
 * is protocol-free: receivers find the stamp by its mark wherever the envelope put it.
 */
export interface WireProtocol {
  readonly name: ProtocolName;
  readonly subprotocol: string | undefined;
  /** Path and query of the upgrade request of a connection joining `channel`. */
  path(channel: string | undefined): string;
  /** Frames to send as soon as the upgrade succeeded. */
  opening(channel: string | undefined): string[];
  /** A text message before the connection is ready. */
  setup(text: string, channel: string | undefined): SetupStep;
  /** A text message after set-up that is not a stamp: a reply to send, or an error to count. */
  other(text: string): { reply?: string; error?: string } | undefined;
  /** The envelope of a publish to `channel`. */
  publish(channel: string): Envelope;
  /** Undefined when the server has no echo. */
  readonly echo: Envelope | undefined;
}

const READY_TAG = 'conveyor-bench-ready';

/** Appends query parameters to a path that may already have some (a token, say). */
function withQuery(path: string, params: Record<string, string | undefined>): string {
  const [base, query = ''] = path.split('?', 2) as [string, string?];
  const search = new URLSearchParams(query);
  for (const [key, value] of Object.entries(params)) if (value !== undefined) search.set(key, value);
  const text = search.toString();
  return text ? `${base}?${text}` : base;
}

/** The Socket Conveyor protocol (PROTOCOL.md). */
export function conveyorProtocol(basePath: string, action: PublishAction = 'broadcast'): WireProtocol {
  // A token in the URL admits the handshake; channel-connect wants it again as `auth`.
  const token = new URLSearchParams(basePath.split('?', 2)[1] ?? '').get('token') ?? undefined;
  const join = (channel: string): string => JSON.stringify({ action: 'channel-connect', channel, ...(token ? { auth: token } : {}) });
  return {
    name: 'conveyor',
    subprotocol: 'socketconveyor.com',
    path: () => basePath,
    opening: (channel) =>
      // Frames of one socket are handled in order, so the echo of the second proves the join took effect.
      channel === undefined ? [] : [join(channel), JSON.stringify({ action: 'base-action', data: READY_TAG })],
    setup(text, channel) {
      if (text.startsWith('{"action":"connection-info"')) return channel === undefined ? { kind: 'ready' } : { kind: 'wait' };
      if (text.includes(READY_TAG)) return { kind: 'ready' };
      // A channel-connect answer whose data is not a presence object is one of the PHP error texts.
      if (text.startsWith('{"action":"error"') || (text.startsWith('{"action":"channel-connect","data":"') && !text.startsWith('{"action":"channel-connect","data":"{'))) {
        return { kind: 'failed', reason: `the server refused the set-up: ${text.slice(0, 200)}` };
      }
      return { kind: 'wait' };
    },
    other: (text) => (text.startsWith('{"action":"error"') ? { error: `error frame: ${text.slice(0, 200)}` } : undefined),
    publish: () =>
      action === 'fanout'
        ? { prefix: `{"action":"fanout-action",${token ? `"auth":${JSON.stringify(token)},` : ''}"data":"`, suffix: '"}' }
        : { prefix: '{"action":"broadcast-action","data":"', suffix: '"}' },
    echo: { prefix: '{"action":"base-action","data":"', suffix: '"}' },
  };
}

/**
 * The comparison's baseline servers (src/bench/baselines): no protocol. The channel goes
 * in the query, the server says `ready` once the socket is subscribed, and every text
 * message is forwarded as is to the other sockets of the channel.
 */
export function rawProtocol(basePath: string): WireProtocol {
  return {
    name: 'raw',
    subprotocol: undefined,
    path: (channel) => withQuery(basePath, { channel }),
    opening: () => [],
    setup: (text) => (text === 'ready' ? { kind: 'ready' } : { kind: 'wait' }),
    other: () => undefined,
    publish: () => ({ prefix: '', suffix: '' }),
    echo: undefined,
  };
}

/**
 * Socket.IO 4 (Engine.IO 4) over a WebSocket from the start: open packet, namespace
 * connect, then events as `42[name,data]`. The baseline server joins the room named in
 * the query and emits `ready`; Engine.IO pings (`2`) are answered (`3`).
 */
export function socketIoProtocol(basePath: string): WireProtocol {
  const base = basePath === '/' || basePath.startsWith('/?') ? `/socket.io/${basePath.slice(1)}` : basePath;
  return {
    name: 'socketio',
    subprotocol: undefined,
    path: (channel) => withQuery(base, { EIO: '4', transport: 'websocket', channel }),
    opening: () => [],
    setup(text) {
      if (text.startsWith('0{')) return { kind: 'send', frames: ['40'] };
      if (text === '42["ready"]') return { kind: 'ready' };
      if (text === '2') return { kind: 'send', frames: ['3'] };
      if (text.startsWith('44')) return { kind: 'failed', reason: `Socket.IO refused the namespace: ${text.slice(2, 200)}` };
      return { kind: 'wait' };
    },
    other: (text) => (text === '2' ? { reply: '3' } : text.startsWith('44') ? { error: `Socket.IO error: ${text.slice(2, 200)}` } : undefined),
    publish: () => ({ prefix: '42["broadcast-action","', suffix: '"]' }),
    echo: undefined,
  };
}

/** `ID:KEY:SECRET`, as the server's own --pusher-app takes it; undefined when it is not of that form. */
export function parsePusherApp(text: string): PusherAppCredentials | undefined {
  const parts = text.split(':');
  if (parts.length !== 3 || parts.some((part) => part === '')) return undefined;
  const [id, key, secret] = parts as [string, string, string];
  return { id, key, secret };
}

/** The `event` of a Pusher frame, and the frame; undefined when it is not one. */
function pusherFrame(text: string): { event: string; frame: Record<string, unknown> } | undefined {
  try {
    const frame = JSON.parse(text) as unknown;
    if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) return undefined;
    const event = (frame as Record<string, unknown>)['event'];
    return typeof event === 'string' ? { event, frame: frame as Record<string, unknown> } : undefined;
  } catch {
    return undefined;
  }
}

/** The `socket_id` of a `pusher:connection_established`, whose `data` is a JSON string (an object is taken too). */
function socketIdOf(data: unknown): string | undefined {
  let parsed = data;
  if (typeof data === 'string') {
    try {
      parsed = JSON.parse(data) as unknown;
    } catch {
      return undefined;
    }
  }
  const socketId = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>)['socket_id'] : undefined;
  return typeof socketId === 'string' && socketId !== '' ? socketId : undefined;
}

const PUSHER_PONG = JSON.stringify({ event: 'pusher:pong', data: {} });
/** The event name of every publish: a client event, which the server relays as sent and never echoes to its sender. */
const PUSHER_BENCH_EVENT = 'client-bench';

/**
 * The Pusher Channels protocol (PUSHER.md) as pusher-js speaks it, on a private channel
 * `private-<channel>`: every connection with a channel, publishers included (the server
 * relays client events only from subscribers), signs its subscription with the app secret
 * once `pusher:connection_established` gave it a socket_id, and is ready on
 * `pusher_internal:subscription_succeeded`. Publishes are client events, relayed as sent,
 * so receivers find the stamp where the publisher put it. The --url path is not used:
 * connections open `/app/{key}` with pusher-js's query.
 */
export function pusherProtocol(app: PusherAppCredentials): WireProtocol {
  const path = `/app/${encodeURIComponent(app.key)}?protocol=7&client=js&version=8.6.0&flash=false`;
  const channelOf = (channel: string): string => `private-${channel}`;
  const subscribe = (socketId: string, channel: string): string =>
    JSON.stringify({
      event: 'pusher:subscribe',
      data: { channel, auth: `${app.key}:${createHmac('sha256', app.secret).update(`${socketId}:${channel}`).digest('hex')}` },
    });
  return {
    name: 'pusher',
    subprotocol: undefined,
    path: () => path,
    // Nothing before the socket_id: the subscription's signature covers it.
    opening: () => [],
    setup(text, channel) {
      const parsed = pusherFrame(text);
      if (!parsed) return { kind: 'wait' };
      const { event, frame } = parsed;
      switch (event) {
        case 'pusher:connection_established': {
          if (channel === undefined) return { kind: 'ready' };
          const socketId = socketIdOf(frame['data']);
          if (socketId === undefined) return { kind: 'failed', reason: `pusher:connection_established without a socket_id: ${text.slice(0, 200)}` };
          return { kind: 'send', frames: [subscribe(socketId, channelOf(channel))] };
        }
        case 'pusher_internal:subscription_succeeded':
          return channel !== undefined && frame['channel'] === channelOf(channel) ? { kind: 'ready' } : { kind: 'wait' };
        case 'pusher:ping':
          return { kind: 'send', frames: [PUSHER_PONG] };
        case 'pusher:subscription_error':
        case 'pusher:error':
          return { kind: 'failed', reason: `the server refused the set-up: ${text.slice(0, 200)}` };
        default:
          return { kind: 'wait' };
      }
    },
    other(text) {
      const event = pusherFrame(text)?.event;
      if (event === 'pusher:ping') return { reply: PUSHER_PONG };
      if (event === 'pusher:error' || event === 'pusher:subscription_error') return { error: `${event}: ${text.slice(0, 200)}` };
      return undefined;
    },
    publish: (channel) => ({ prefix: `{"event":"${PUSHER_BENCH_EVENT}","channel":${JSON.stringify(channelOf(channel))},"data":"`, suffix: '"}' }),
    // Pusher never echoes a client event to its sender.
    echo: undefined,
  };
}

/** The protocol of a run; `pusherApp` is needed by (and only by) `pusher`, `action` is read by `conveyor` only. */
export function wireProtocol(name: ProtocolName, basePath: string, pusherApp?: PusherAppCredentials, action: PublishAction = 'broadcast'): WireProtocol {
  switch (name) {
    case 'conveyor':
      return conveyorProtocol(basePath, action);
    case 'raw':
      return rawProtocol(basePath);
    case 'socketio':
      return socketIoProtocol(basePath);
    case 'pusher':
      if (!pusherApp) throw new Error('--protocol pusher needs --pusher-app ID:KEY:SECRET');
      return pusherProtocol(pusherApp);
  }
}
