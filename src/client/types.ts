/** What happens to a frame sent while disconnected when the queue is full. */
export type OverflowPolicy = 'drop-oldest' | 'drop-newest' | 'error';

/** A frame as the server sends it: the Socket Conveyor envelope. */
export interface ServerFrame {
  action: string;
  data?: unknown;
  fd?: number;
  /** With history on the server: the frame's number in its channel. */
  seq?: number;
  id?: string;
}

/** What a join with history told the client (server started with --history). */
export interface Recovery {
  channel: string;
  epoch: string;
  /** The channel's latest seq at the join. */
  seq: number;
  /** True when the client now has every frame since it left (or asked for). */
  recovered: boolean;
  /** Frames the server replays now, before the live ones. */
  replayed: number;
  /** Frames lost for good, when that is known (same epoch); undefined when the history was lost. */
  missed: number | undefined;
  /** True for the client's first join of the channel (the backlog), false for a rejoin after a reconnect. */
  initial: boolean;
}

/** A presence change in the client's channel (server started with --presence). */
export interface Presence {
  /** `join` when `fd` entered the channel, `leave` when it left or closed. */
  kind: 'join' | 'leave';
  fd: number;
  channel: string;
  /** How many members the channel has after the change. */
  count: number;
  /** Every member after the change; absent when the channel is over --presence-max-members. */
  fds?: number[];
  /** User ids of the members that have one, keyed by fd; absent with `fds`. */
  userIds?: Record<string, string | number>;
}

export interface ConveyorOptions {
  protocol: 'ws' | 'wss';
  /** Server host name or address. */
  uri: string;
  port: number;
  /** Server or temporary token: sent as ?token= and as `auth` in channel-connect. */
  token: string | null | undefined;
  /**
   * Extra query parameters: a string as the published client took it (`?a=1`, or with a
   * path, `/socket?a=1`), or an object.
   */
  query: string | Record<string, string> | undefined;
  /** Channel joined on open, and re-joined after every reconnect. */
  channel: string | null | undefined;
  /** User id associated on open (before the join), and again after every reconnect. */
  userId: string | number | null | undefined;
  /** Adds an `id` to frames sent with send(); the server's acknowledge-action clears it. */
  acknowledge: boolean;
  heartBeat: boolean;
  heartBeatInterval: number;
  /** Node: how long to wait for a pong before the link counts as dead. Defaults to heartBeatInterval. */
  pongTimeout: number | undefined;
  onOpen: (event?: unknown) => void;
  onReady: () => void;
  /** Every frame's `data` and `fd`, but the duplicates the server re-sends and its acknowledge-action answers. */
  onMessage: (data: unknown, fd: number | undefined) => void;
  /** Every text message as received, duplicates included. */
  onRawMessage: (raw: string) => void;
  onClose: (event?: unknown) => void;
  onCloseCallback: (event?: unknown) => void;
  onError: (error: unknown) => void;
  reconnect: boolean;
  /**
   * With history on the server: frames of the channel's backlog to get on the first join
   * (0: none). After a reconnect the client always asks for what it missed.
   */
  backlog: number;
  /** Base delay of the reconnect backoff, ms. */
  reconnectDelay: number;
  /** Longest reconnect delay, ms. */
  reconnectDelayMax: number;
  /** Failed reconnect attempts in a row before giving up (Infinity: never). */
  maxReconnectAttempts: number;
  /** How often a closed connection is looked for, ms (with reconnect on). */
  healthCheckInterval: number;
  /** Returns a fresh token before each reconnect: temporary tokens are spent by their first use. */
  refreshToken: (() => string | null | Promise<string | null>) | undefined;
  /** Frames kept while disconnected. */
  queueLimit: number;
  queueOverflow: OverflowPolicy;
  /** Node: extra handshake headers (an Origin, a cookie). */
  headers: Record<string, string> | undefined;
  binaryType: 'arraybuffer' | 'blob' | 'nodebuffer';
  /** WebSocket subprotocol to ask for; none by default, as the published client. */
  subprotocol: string | undefined;
}

/** The events of the typed API, `client.on(name, listener)`. */
export interface ConveyorEvents {
  open: () => void;
  /** The client is connected, associated and joined: frames sent now follow the join. */
  ready: () => void;
  /** The server said this connection's fd (connection-info): after `ready`, and anew on every reconnect. */
  fd: (fd: number) => void;
  /** Frames of the app: not connection-info, presence, join refusals or acknowledgment answers, and each id once. */
  message: (data: unknown, fd: number | undefined, frame: ServerFrame) => void;
  presence: (presence: Presence) => void;
  /** A join with history: whether the client got every frame it missed, and what is replayed now. */
  recovery: (recovery: Recovery) => void;
  close: (code: number, reason: string) => void;
  /** Transport errors, refused joins, refused handshakes, giving up. */
  error: (error: Error) => void;
  reconnecting: (attempt: number, delayMs: number) => void;
  /** A frame sent with `acknowledge` on was acknowledged by the server. */
  acknowledged: (id: string) => void;
  /** A frame was dropped: the outgoing queue was full, or the client has stopped. */
  dropped: (frame: string) => void;
}
