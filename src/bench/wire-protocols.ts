/** The servers `conveyor bench` can drive. */
export const PROTOCOL_NAMES = ['conveyor', 'raw', 'socketio'] as const;
export type ProtocolName = (typeof PROTOCOL_NAMES)[number];

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
  readonly publish: Envelope;
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
export function conveyorProtocol(basePath: string): WireProtocol {
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
    publish: { prefix: '{"action":"broadcast-action","data":"', suffix: '"}' },
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
    publish: { prefix: '', suffix: '' },
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
    publish: { prefix: '42["broadcast-action","', suffix: '"]' },
    echo: undefined,
  };
}

export function wireProtocol(name: ProtocolName, basePath: string): WireProtocol {
  switch (name) {
    case 'conveyor':
      return conveyorProtocol(basePath);
    case 'raw':
      return rawProtocol(basePath);
    case 'socketio':
      return socketIoProtocol(basePath);
  }
}
