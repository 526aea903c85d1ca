/**
 * The embedding API: your own WebSocket apps on their own paths, hooks on the built-in
 * protocols, and HTTP routes, all running in every event worker with the server's limits,
 * workers and (with Redis) nodes. Everything here is given to `createServer()`.
 */
import type { HttpReply, HttpRequestInfo } from '../http/routes.js';

export type { HttpReply, HttpRequestInfo };

/** One connection of a WebSocket app, as its callbacks see it. */
export interface AppSocket {
  /** Unique across the server for its whole life (the same numbering as native fds). */
  readonly id: number;
  readonly path: string;
  readonly query: URLSearchParams;
  /** The handshake's headers, lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly remoteAddress: string;
  /** The groups this socket is in. */
  readonly groups: ReadonlySet<string>;
  /** Sends a text (string) or binary message; false when the socket is closed or too far behind. */
  send(data: string | Uint8Array): boolean;
  close(code?: number, reason?: string): void;
  /**
   * Joins a group: from now on it receives what is published to it, on any worker. Resolves
   * false, joining nothing, when the socket is in MAX_GROUPS_PER_SOCKET (1,000) groups already
   * or the name is longer than MAX_GROUP_NAME_BYTES (200): leave one first, or pick a shorter name.
   */
  join(group: string): Promise<boolean>;
  leave(group: string): Promise<void>;
  /** Publishes to a group's members on every worker, this socket left out. */
  broadcast(group: string, data: string | Uint8Array): boolean;
}

/** What an app can do beyond one socket. */
export interface AppContext {
  /** Publishes to every member of a group of this app, on every worker; false when the server sheds load. */
  publish(group: string, data: string | Uint8Array): boolean;
}

/**
 * A plain WebSocket app on one path, with no Conveyor envelope: messages arrive as sent.
 * Every callback may be async; one that throws is logged and the socket is closed with 1011.
 */
export interface WebSocketApp {
  /** Exact path, such as `/chat`. */
  path: string;
  open?(socket: AppSocket, app: AppContext): unknown;
  message?(socket: AppSocket, data: string | Buffer, isBinary: boolean, app: AppContext): unknown;
  close?(socket: AppSocket, code: number, app: AppContext): unknown;
  /** A socket of this worker joined or left a group. */
  memberJoined?(socket: AppSocket, group: string, app: AppContext): void;
  memberLeft?(socket: AppSocket, group: string, app: AppContext): void;
  /** A group got its first member anywhere, or lost its last: once for the whole server. */
  groupCreated?(group: string, app: AppContext): void;
  groupDestroyed?(group: string, app: AppContext): void;
}

/** A handshake as the hook sees it (any protocol), after the server's own checks passed. */
export interface HandshakeRequest {
  path: string;
  query: URLSearchParams;
  headers: Readonly<Record<string, string>>;
  remoteAddress: string;
  /** `native`, `pusher`, or `app`. */
  protocol: string;
}

/** A refusal of a handshake: the HTTP status (400–599) and an optional JSON body. */
export interface HandshakeRefusal {
  status: number;
  body?: unknown;
}

export interface ConnectionEvent {
  id: number;
  protocol: string;
  path: string;
  remoteAddress: string;
}

export interface ChannelEvent {
  /** The socket that joined or left (channel events), absent for occupied and vacated. */
  id?: number;
  channel: string;
  /** `native` or `pusher`; Pusher channels carry their app id. */
  protocol: string;
  app?: string;
}

/**
 * Hooks on every connection and on the built-in protocols' channels. They run in the
 * event worker that holds the socket; occupied and vacated run once for the whole server,
 * in the worker of the socket that caused them. A hook that throws is logged and changes
 * nothing else.
 */
export interface ServerHooks {
  /** May refuse a handshake (after origin, token and connection limits): return the status. */
  handshake?(request: HandshakeRequest): HandshakeRefusal | undefined | Promise<HandshakeRefusal | undefined>;
  connectionOpened?(event: ConnectionEvent): void;
  connectionClosed?(event: ConnectionEvent & { code: number }): void;
  channelJoined?(event: ChannelEvent): void;
  channelLeft?(event: ChannelEvent): void;
  channelOccupied?(event: ChannelEvent): void;
  channelVacated?(event: ChannelEvent): void;
}

/** An HTTP route beside the built-in ones, with the same body limit and error handling. */
export interface CustomRoute {
  /** GET, POST, …, or `*` for any. */
  method: string;
  /** Exact path. */
  path: string;
  handler(request: HttpRequestInfo, app: RouteContext): HttpReply | Promise<HttpReply>;
}

/** What a route can do: publish to a WebSocket app's group. */
export interface RouteContext {
  publish(appPath: string, group: string, data: string | Uint8Array): boolean;
}
