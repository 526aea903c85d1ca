import type { OverflowPolicy } from './outbox.js';

/** A frame as the server sends it: the Socket Conveyor envelope. */
export interface ServerFrame {
  action: string;
  data?: unknown;
  fd?: number;
  id?: string;
}

/** A presence change in the client's channel (server started with --presence). */
export interface Presence {
  /** `join` when `fd` entered the channel, `leave` when it left or closed. */
  kind: 'join' | 'leave';
  fd: number;
  channel: string;
  /** Every member after the change. */
  fds: number[];
  /** User ids of the members that have one, keyed by fd. */
  userIds: Record<string, string | number>;
}

export interface ConveyorOptions {
  /** 'ws' or 'wss'. */
  protocol: 'ws' | 'wss';
  uri: string;
  port: number;
  /** Server or temporary token: sent as ?token= and as `auth` in channel-connect. */
  token: string | null | undefined;
  /** Extra query parameters: a string (`a=1&b=2`, with or without `?`) or an object. */
  query: string | Record<string, string> | undefined;
  channel: string | null | undefined;
  userId: string | number | null | undefined;
  /** Adds an `id` to sent frames and tracks the server's acknowledge-action for it. */
  acknowledge: boolean;
  heartBeat: boolean;
  heartBeatInterval: number;
  /** Node only: how long to wait for a pong before the link counts as dead. Defaults to heartBeatInterval. */
  pongTimeout: number | undefined;
  onOpen: (event?: unknown) => void;
  onReady: () => void;
  onMessage: (data: unknown, fd: number | undefined) => void;
  onRawMessage: (raw: string) => void;
  onClose: (event?: unknown) => void;
  onCloseCallback: (event?: unknown) => void;
  onError: (error: unknown) => void;
  reconnect: boolean;
  /** Base delay of the reconnect backoff, ms. */
  reconnectDelay: number;
  /** Longest reconnect delay, ms. */
  reconnectDelayMax: number;
  /** Reconnect attempts in a row before giving up (Infinity: never). */
  maxReconnectAttempts: number;
  /** How often a closed connection is looked for, ms (with reconnect on). */
  healthCheckInterval: number;
  /** Returns a fresh token before each reconnect: temporary tokens are single-use. */
  refreshToken: (() => string | Promise<string>) | undefined;
  /** Frames kept while disconnected. */
  queueLimit: number;
  queueOverflow: OverflowPolicy;
  /** Node only: extra handshake headers. */
  headers: Record<string, string> | undefined;
  binaryType: 'arraybuffer' | 'blob' | 'nodebuffer';
  /** WebSocket subprotocol asked for. */
  subprotocol: string;
}

/** The events of the typed API, `client.on(name, listener)`. */
export interface ConveyorEvents {
  open: () => void;
  /** The client is connected, associated and joined: frames flow. */
  ready: () => void;
  message: (data: unknown, fd: number | undefined, frame: ServerFrame) => void;
  presence: (presence: Presence) => void;
  close: (code: number, reason: string) => void;
  error: (error: Error) => void;
  reconnecting: (attempt: number, delayMs: number) => void;
  /** A frame sent with `acknowledge` on was acknowledged by the server. */
  acknowledged: (id: string) => void;
  /** A frame was dropped from the full outgoing queue. */
  dropped: (frame: string) => void;
}
