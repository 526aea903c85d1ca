/**
 * Every error a user can see, in one table. Protocol texts marked PHP are the PHP Socket
 * Conveyor server's own words: clients match on them, so they never change.
 */
export const ProtocolErrors = {
  channelMissing: 'Channel connection must specify "channel"!', // PHP
  channelAuthMissing: 'Channel connection must specify "auth" when authentication is set!', // PHP
  channelAuthFailed: 'Failed to connect to channel', // PHP
  broadcastDataMissing: "BroadcastAction required 'data' field to be created!", // PHP
  baseDataMissing: "BaseAction required 'data' field to be created!", // PHP
  fanoutDataMissing: "FanoutAction required 'data' field to be created!", // PHP
  fanoutAuthMissing: 'FanoutAction must specify "auth" when authentication is set!', // PHP
  fanoutAuthFailed: 'Failed to broadcast fanout', // PHP
  ackDataMissing: "AcknowledgeAction required 'data' field to be created!", // PHP
  userIdMissing: 'The userId is required to associate connection to team!', // PHP
} as const;

/** Texts of the `error` action, for frames the PHP server would crash on. */
export const FrameErrors = {
  notAnObject: 'Frame must be a JSON object with a string "action"; got a JSON array.',
  actionMissing: 'Frame must have an "action" field naming the action to run.',
  actionNotString: 'Field "action" must be a string.',
  unknownAction: (name: string): string =>
    `Unknown action "${name.length > 64 ? `${name.slice(0, 64)}…` : name}". Send one of the actions this server registers (base-action, channel-connect, …).`,
  wrongType: (field: string, expected: string): string => `Field "${field}" must be ${expected}.`,
  internal: 'The server could not process this frame; it was not applied. Try again later.',
  tooDeep: (max: number): string => `Frame nests arrays and objects deeper than ${max} levels; flatten it.`,
  busy: 'The server is relaying too much from this socket to its other workers just now; this frame was not delivered to anyone. Slow down and send it again.',
  backlogFull: (frames: number, bytes: number): string =>
    `Too many frames in flight (over ${frames} frames or ${bytes} bytes waiting); wait for answers before sending more. This frame was not applied.`,
  fanoutBacklogFull: (frames: number, bytes: number): string =>
    `Too many fanouts being planned (over ${frames} fanouts or ${bytes} bytes); this one was not sent. Wait for earlier ones to arrive before sending more.`,
  userIdTooLong: (max: number): string => `Field "userId" must be at most ${max} bytes.`,
  ackOverflow: (count: number, bytes: number): string =>
    `Too many unacknowledged messages (over ${count}, or ${bytes} bytes): answer acknowledge-action for each id you receive. Closing with 1008.`,
  rateLimited: (rate: number): string =>
    `Too many frames: this server accepts ${rate} per second from one socket. Frames are dropped until you slow down; a socket that keeps on is closed with 1008.`,
} as const;

/** HTTP error bodies. */
export const HttpErrors = {
  unauthorized: 'Unauthorized!', // PHP
  channelNotFound: 'Channel not found!', // PHP
  invalidMessage: 'Invalid message!', // PHP
  invalidJson: 'Request body must be a JSON object.',
  notFound: (endpoints: readonly string[]): string => `Not found. Endpoints: ${endpoints.join(', ')}, and the WebSocket upgrade on any path.`,
  bodyTooLarge: (limit: number): string => `Request body exceeds ${limit} bytes.`,
  tooManyConnections: 'Server is at its connection limit (--max-connections); retry later or on another instance.',
  tooManyFromAddress: 'Too many connections from your address (--max-connections-per-ip); close one and retry.',
  originNotAllowed: 'Origin not allowed: add it to --allowed-origins on the server.',
  noServerToken: 'Temporary tokens need a server token: start the server with --token to use POST /conveyor/auth.',
  tooManyTokens: (max: number): string => `The server holds its maximum of ${max} live temporary tokens (--temp-token-max); retry after the time in Retry-After.`,
  busy: 'The server is relaying too much between its workers just now; nothing was sent. Retry after the time in Retry-After.',
  historyBusy: 'The server is answering too many history reads (rejoins with "since", GET /conveyor/history) just now; this one was not read. Retry in a few seconds.',
  redisBusy: 'Too many bytes are waiting for Redis on this node just now (over twice --ipc-queue-limit): this message was not kept and reached this node\'s subscribers only. Slow down and retry in a moment.',
  redisDown: 'This node cannot reach Redis, which links it to the other nodes, so it cannot answer for the whole server just now; nothing was done. Retry in a few seconds (it reconnects by itself).',
} as const;

/** Process exit codes of the CLI. */
export const ExitCodes = {
  ok: 0,
  failure: 1,
  invalidConfig: 2,
} as const;

/** An error caused by what the user configured: printed as one line, never as a stack. */
export class ConfigError extends Error {
  readonly code = 'ECONVEYOR_CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** The listen address could not be bound (in use, or not permitted). */
export class ListenError extends Error {
  readonly code = 'ECONVEYOR_LISTEN';
  constructor(message: string) {
    super(message);
    this.name = 'ListenError';
  }
}

/**
 * What was asked needs the other nodes, and Redis, which links them, is away: answered 503
 * with this message, never 500.
 */
export class ServiceUnavailable extends Error {
  readonly code = 'ECONVEYOR_UNAVAILABLE';
  constructor(message: string) {
    super(message);
    this.name = 'ServiceUnavailable';
  }
}
