import type { ConveyorOptions } from './types.js';

const noop = (): void => {};

/** The published client's defaults, and the additions' defaults. */
export const DEFAULT_OPTIONS: Readonly<ConveyorOptions> = {
  protocol: 'ws',
  uri: '127.0.0.1',
  port: 8000,
  token: null,
  query: '',
  channel: null,
  userId: null,
  acknowledge: false,
  heartBeat: true,
  heartBeatInterval: 10_000,
  pongTimeout: undefined,
  onOpen: noop,
  onReady: noop,
  onMessage: noop,
  onRawMessage: noop,
  onClose: noop,
  onCloseCallback: noop,
  onError: noop,
  reconnect: false,
  backlog: 0,
  reconnectDelay: 5000,
  reconnectDelayMax: 60_000,
  maxReconnectAttempts: Number.POSITIVE_INFINITY,
  healthCheckInterval: 3000,
  refreshToken: undefined,
  queueLimit: 1000,
  queueOverflow: 'drop-oldest',
  headers: undefined,
  binaryType: 'arraybuffer',
  subprotocol: undefined,
};

/** Options given to the constructor merged over the defaults; `undefined` keeps a default. */
export function withDefaults(given: Partial<ConveyorOptions>): ConveyorOptions {
  const options: ConveyorOptions = { ...DEFAULT_OPTIONS };
  for (const [key, value] of Object.entries(given) as [keyof ConveyorOptions, unknown][]) {
    if (value !== undefined) (options as unknown as Record<string, unknown>)[key] = value;
  }
  return options;
}

/**
 * The WebSocket URL. The published client appended `query` right after the port, so a
 * string query may carry a path too (`/socket?room=1`); the token goes in as `?token=`.
 */
export function connectionUrl(options: Pick<ConveyorOptions, 'protocol' | 'uri' | 'port' | 'query' | 'token'>): string {
  const { protocol, uri, port, query, token } = options;
  let path = '/';
  let params: URLSearchParams;
  if (typeof query === 'string') {
    const at = query.indexOf('?');
    const head = at === -1 ? (query.startsWith('/') ? query : '') : query.slice(0, at);
    const search = at === -1 ? (query.startsWith('/') ? '' : query) : query.slice(at + 1);
    if (head.startsWith('/')) path = head;
    params = new URLSearchParams(search);
  } else {
    params = new URLSearchParams(query ?? {});
  }
  if (token) params.set('token', token);
  const search = params.toString();
  return `${protocol}://${uri}:${port}${path}${search ? `?${search}` : ''}`;
}
