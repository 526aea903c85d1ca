import { backoffDelay } from './backoff.js';
import { Emitter } from './emitter.js';
import { Outbox } from './outbox.js';
import { backgroundInterval, OPEN, type ClientSocket, type Platform } from './platform.js';
import { RecentIds } from './recent-ids.js';
import type { ConveyorEvents, ConveyorOptions, Presence, ServerFrame } from './types.js';

const noop = (): void => {};

export const DEFAULT_OPTIONS: ConveyorOptions = {
  protocol: 'ws',
  uri: '127.0.0.1',
  port: 8000,
  token: null,
  query: undefined,
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
  reconnectDelay: 5000,
  reconnectDelayMax: 60_000,
  maxReconnectAttempts: Number.POSITIVE_INFINITY,
  healthCheckInterval: 3000,
  refreshToken: undefined,
  queueLimit: 1000,
  queueOverflow: 'drop-oldest',
  headers: undefined,
  binaryType: 'arraybuffer',
  subprotocol: 'socketconveyor.com',
};

interface PendingJoin {
  probe: string;
  resolve: () => void;
  reject: (error: Error) => void;
}

function toError(event: unknown): Error {
  if (event instanceof Error) return event;
  const inner = (event as { error?: unknown; message?: unknown } | null) ?? {};
  if (inner.error instanceof Error) return inner.error;
  return new Error(typeof inner.message === 'string' ? inner.message : 'WebSocket error');
}

/**
 * A Socket Conveyor client, compatible with the published `socket-conveyor-client`
 * (options, callbacks and methods) and better at surviving real networks: reconnects
 * with backoff and jitter that re-join and re-associate, a heartbeat that notices dead
 * links, acknowledgments answered and de-duplicated, and a bounded queue for frames
 * sent while disconnected. It connects in its constructor.
 */
export class ConveyorClient extends Emitter<ConveyorEvents> {
  readonly options: ConveyorOptions;
  /** This socket's id on the server, from connection-info; undefined until it arrives. */
  fd: number | undefined;
  private socket: ClientSocket | undefined;
  private ready = false;
  private stopped = false;
  /** Why the client stopped for good, when it was not close(). */
  private stopReason: Error | undefined;
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly healthTimer: ReturnType<typeof setInterval> | undefined;
  private stopHeartbeat: () => void = noop;
  private readonly outbox: Outbox;
  private readonly seen = new RecentIds();
  private readonly unacknowledged = new Set<string>();
  private joining: PendingJoin | undefined;
  private nextId = 0;
  private readonly idPrefix = Math.random().toString(36).slice(2, 10);
  private readyWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];

  constructor(
    options: Partial<ConveyorOptions>,
    private readonly platform: Platform,
  ) {
    super();
    this.options = { ...DEFAULT_OPTIONS, ...options };
    this.outbox = new Outbox(this.options.queueLimit, this.options.queueOverflow);
    if (this.options.reconnect) {
      this.healthTimer = backgroundInterval(() => {
        if (!this.stopped && this.isClosed() && this.reconnectTimer === undefined && this.socket?.readyState !== 0) this.scheduleReconnect();
      }, this.options.healthCheckInterval);
    }
    this.connect();
  }

  /** Resolves once the client is connected, associated and joined. */
  connected(): Promise<void> {
    if (this.ready) return Promise.resolve();
    if (this.stopReason) return Promise.reject(this.stopReason);
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  /** Sends `message` as `action` (base-action by default); returns the frame's id with `acknowledge` on. */
  send(message: unknown, action = 'base-action'): string | undefined {
    const frame: Record<string, unknown> = { action, data: message };
    let id: string | undefined;
    if (this.options.acknowledge) {
      id = this.newId();
      frame['id'] = id;
      this.unacknowledged.add(id);
    }
    this.rawSend(JSON.stringify(frame));
    return id;
  }

  /** Sends a text frame as is; queued while the client is not ready. */
  rawSend(raw: string): void {
    if (this.ready && this.socket?.readyState === OPEN) {
      this.socket.send(raw);
      return;
    }
    const dropped = this.outbox.push(raw);
    if (dropped !== undefined) this.emit('dropped', dropped);
  }

  /** Moves to `channel` (kept for reconnects). */
  connectChannel(channel: string): void {
    this.options.channel = channel;
    if (this.socket?.readyState === OPEN) this.sendNow({ action: 'channel-connect', channel, auth: this.options.token ?? null });
  }

  /**
   * Moves to `channel` and resolves once the server has handled it; rejects with the
   * server's words when it refused (a wrong or spent token, a bad channel name).
   */
  async join(channel: string): Promise<void> {
    await this.connected();
    this.joining?.reject(new Error(`join of another channel (${channel}) started`));
    const probe = `conveyor-join-${this.newId()}`;
    const done = new Promise<void>((resolve, reject) => (this.joining = { probe, resolve, reject }));
    this.connectChannel(channel);
    // Frames are handled in order per socket: the echo of this probe comes after any refusal.
    this.sendNow({ action: 'base-action', data: probe });
    return done;
  }

  /** Associates a user id with this socket (kept for reconnects). */
  assocUser(userId: string | number): void {
    this.options.userId = userId;
    if (this.socket?.readyState === OPEN) this.sendNow({ action: 'assoc-user-to-fd-action', userId });
  }

  isClosed(): boolean {
    return this.socket === undefined || this.socket.readyState !== OPEN;
  }

  /** True while a frame sent with `acknowledge` on has not been acknowledged. */
  isPending(id: string): boolean {
    return this.unacknowledged.has(id);
  }

  /** Closes for good: no reconnect. */
  close(code = 1000, reason = ''): void {
    this.stopped = true;
    clearInterval(this.healthTimer);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.stopHeartbeat();
    this.socket?.close(code, reason);
    this.stopReason = new Error('client closed');
    this.failWaiters(this.stopReason);
  }

  private newId(): string {
    return `${this.idPrefix}-${(this.nextId++).toString(36)}`;
  }

  private sendNow(frame: Record<string, unknown>): void {
    if (this.socket?.readyState === OPEN) this.socket.send(JSON.stringify(frame));
  }

  private url(): string {
    const { protocol, uri, port, query, token } = this.options;
    const params = new URLSearchParams(typeof query === 'string' ? query.replace(/^\?/, '') : (query ?? {}));
    if (token) params.set('token', token);
    const search = params.toString();
    return `${protocol}://${uri}:${port}/${search ? `?${search}` : ''}`;
  }

  private connect(): void {
    let socket: ClientSocket;
    try {
      socket = this.platform.connect(this.url(), this.options.subprotocol, this.options.headers);
    } catch (error) {
      this.reportError(toError(error));
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.binaryType = this.options.binaryType;
    socket.onopen = (event) => this.onOpen(socket, event);
    socket.onmessage = (event) => this.onMessage(event.data);
    socket.onclose = (event) => this.onClose(socket, event);
    socket.onerror = (event) => this.onError(event);
  }

  private onOpen(socket: ClientSocket, event: unknown): void {
    this.attempt = 0;
    this.emit('open');
    this.options.onOpen(event);
    if (this.options.heartBeat) {
      this.stopHeartbeat = this.platform.heartbeat(socket, this.options.heartBeatInterval, this.options.pongTimeout ?? this.options.heartBeatInterval, () =>
        this.platform.kill(socket),
      );
    }
    const { userId, channel, token } = this.options;
    if (userId !== null && userId !== undefined) this.sendNow({ action: 'assoc-user-to-fd-action', userId });
    if (channel) this.sendNow({ action: 'channel-connect', channel, auth: token ?? null });
    this.ready = true;
    for (const raw of this.outbox.drain()) socket.send(raw);
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    waiters.forEach((w) => w.resolve());
    this.emit('ready');
    this.options.onReady();
  }

  private onMessage(data: unknown): void {
    if (typeof data !== 'string') return;
    this.options.onRawMessage(data);
    let frame: ServerFrame;
    try {
      frame = JSON.parse(data) as ServerFrame;
    } catch {
      return;
    }
    if (typeof frame.id === 'string') {
      // Answer every copy: the server re-sends until it hears this; the app sees the first only.
      this.sendNow({ action: 'acknowledge-action', data: frame.id });
      if (!this.seen.firstSight(frame.id)) return;
    }
    switch (frame.action) {
      case 'connection-info':
        this.fd = typeof frame.data === 'string' ? ((JSON.parse(frame.data) as { fd?: number }).fd ?? undefined) : undefined;
        return;
      case 'acknowledge-action':
        if (typeof frame.data === 'string' && this.unacknowledged.delete(frame.data)) this.emit('acknowledged', frame.data);
        return;
      case 'base-action':
        if (this.joining && frame.data === this.joining.probe) {
          this.joining.resolve();
          this.joining = undefined;
          return;
        }
        break;
      case 'channel-connect':
      case 'channel-disconnect': {
        const presence = this.presenceOf(frame);
        if (presence) this.emit('presence', presence);
        else if (this.joining && frame.action === 'channel-connect') {
          this.joining.reject(new Error(String(frame.data)));
          this.joining = undefined;
        }
        break;
      }
      case 'error':
        if (this.joining) {
          this.joining.reject(new Error(String(frame.data)));
          this.joining = undefined;
        }
        break;
    }
    this.options.onMessage(frame.data, frame.fd);
    if (frame.action !== 'channel-connect' && frame.action !== 'channel-disconnect') this.emit('message', frame.data, frame.fd, frame);
  }

  private presenceOf(frame: ServerFrame): Presence | undefined {
    if (typeof frame.data !== 'string' || !frame.data.startsWith('{')) return undefined;
    try {
      const data = JSON.parse(frame.data) as { event?: string; fd: number; channel: string; fds: number[]; userIds: Record<string, string | number> };
      if (data.event !== 'channel-presence') return undefined;
      return { kind: frame.action === 'channel-connect' ? 'join' : 'leave', fd: data.fd, channel: data.channel, fds: data.fds, userIds: data.userIds };
    } catch {
      return undefined;
    }
  }

  private onClose(socket: ClientSocket, event: { code: number; reason: string }): void {
    if (socket !== this.socket) return;
    this.ready = false;
    this.stopHeartbeat();
    this.stopHeartbeat = noop;
    this.joining?.reject(new Error(`connection closed (${event.code}) before the join completed`));
    this.joining = undefined;
    this.emit('close', event.code, event.reason);
    this.options.onClose(event);
    this.options.onCloseCallback(event);
    if (!this.stopped && this.options.reconnect) this.scheduleReconnect();
  }

  private onError(event: unknown): void {
    const error = toError(event);
    // A refused handshake will be refused again with the same token: a spent temporary
    // token must not be retried forever.
    if (/Unexpected server response: 40[13]/.test(error.message) && this.options.refreshToken === undefined) {
      this.stopped = true;
      clearInterval(this.healthTimer);
      const refused = new Error(`${error.message}: the server refused the token; not reconnecting (give refreshToken to fetch a new one)`);
      this.stopReason = refused;
      this.failWaiters(refused);
      this.reportError(refused);
      return;
    }
    this.reportError(error);
  }

  private reportError(error: Error): void {
    this.options.onError(error);
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  private failWaiters(error: Error): void {
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    waiters.forEach((w) => w.reject(error));
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer !== undefined || !this.options.reconnect) return;
    if (this.attempt >= this.options.maxReconnectAttempts) {
      this.stopped = true;
      const gaveUp = new Error(`gave up reconnecting after ${this.attempt} attempts`);
      this.stopReason = gaveUp;
      this.failWaiters(gaveUp);
      this.reportError(gaveUp);
      return;
    }
    const delay = backoffDelay(this.attempt, this.options.reconnectDelay, this.options.reconnectDelayMax);
    this.attempt++;
    this.emit('reconnecting', this.attempt, delay);
    this.reconnectTimer = setTimeout(() => {
      void (async () => {
        try {
          if (this.options.refreshToken) this.options.token = await this.options.refreshToken();
        } catch (error) {
          this.reportError(toError(error));
        }
        this.reconnectTimer = undefined;
        if (!this.stopped) this.connect();
      })();
    }, delay);
  }
}
