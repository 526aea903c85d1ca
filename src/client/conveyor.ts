import { backoffDelay } from './backoff.js';
import { Emitter } from './emitter.js';
import { connectionFd, joinRefusal, parseFrame, presenceOf } from './frames.js';
import { connectionUrl, withDefaults } from './options.js';
import { Outbox } from './outbox.js';
import { backgroundInterval, CLOSED, OPEN, type ClientSocket, type ConnectRequest, type Platform } from './platform.js';
import { RecentIds } from './recent-ids.js';
import type { ConveyorEvents, ConveyorOptions, ServerFrame } from './types.js';

const noop = (): void => {};

/**
 * A join in flight. Frames are handled in order per socket, so it is bracketed by two
 * echoed probes: a refusal that arrives between their echoes answers this join, not an
 * earlier frame.
 */
interface PendingJoin {
  start: string;
  end: string;
  started: boolean;
  previous: string | null | undefined;
  resolve: () => void;
  reject: (error: Error) => void;
}

function toError(event: unknown): Error {
  if (event instanceof Error) return event;
  const inner = (event as { error?: unknown; message?: unknown } | null) ?? {};
  if (inner.error instanceof Error) return inner.error;
  return new Error(typeof inner.message === 'string' && inner.message !== '' ? inner.message : 'WebSocket error');
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
  private opened = false;
  private ready = false;
  private stopped = false;
  /** Why the client stopped for good: close(), a refused handshake, giving up. */
  private stopReason: Error | undefined;
  private lastError: Error | undefined;
  /** Failed connection attempts in a row. */
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private probing = false;
  private readonly healthTimer: ReturnType<typeof setInterval> | undefined;
  private stopHeartbeat: () => void = noop;
  private readonly outbox: Outbox;
  /** Ids seen on this connection: the server re-sends to the same socket only, and its ids restart with it. */
  private seen = new RecentIds();
  private readonly unacknowledged = new Set<string>();
  private joining: PendingJoin | undefined;
  /** Per channel: the epoch and last seq received, to rejoin from there and drop what came twice. */
  private readonly positions = new Map<string, { epoch: string | undefined; seq: number }>();
  /** The replay under way: how many of its frames are still to come. */
  private replaying: { channel: string; left: number } | undefined;
  /** The fds this client had on its connections: in a replay, frames from them are its own. */
  private readonly ownFds: number[] = [];
  private nextId = 0;
  private readonly idPrefix = Math.random().toString(36).slice(2, 10);
  private readonly probePrefix = `conveyor:join:${this.idPrefix}:`;
  private readyWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];

  constructor(
    options: Partial<ConveyorOptions>,
    private readonly platform: Platform,
  ) {
    super();
    this.options = withDefaults(options);
    this.outbox = new Outbox(this.options.queueLimit, this.options.queueOverflow);
    if (this.options.reconnect) {
      // A safety net: the close handler schedules reconnects, this catches a socket that
      // ended without one.
      this.healthTimer = backgroundInterval(() => {
        if (this.stopped || this.probing || this.reconnectTimer !== undefined) return;
        if (this.socket?.readyState === CLOSED) this.scheduleReconnect();
      }, this.options.healthCheckInterval);
    }
    this.connect();
  }

  /** Resolves once the client is connected, associated and joined; rejects once it has stopped for good. */
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

  /**
   * Sends a text frame as is. While (re)connecting it is queued and sent after the join;
   * once the client has stopped it is dropped.
   */
  rawSend(raw: string): void {
    if (this.stopped) return this.drop(raw);
    if (this.ready && this.socket?.readyState === OPEN) {
      this.socket.send(raw);
      return;
    }
    const dropped = this.outbox.push(raw);
    if (dropped !== undefined) this.drop(dropped);
  }

  /** Joins `channel` (by default the `channel` option), leaving the current one; kept for reconnects. */
  connectChannel(channel: string | null | undefined = this.options.channel): void {
    if (!channel) return;
    this.options.channel = channel;
    // Only a client that got numbered frames (a server with history) rejoins from a position;
    // a first join asks for the backlog only when the app wants one, so it stays the published client's frame.
    const position = this.positions.get(channel);
    const recovery = position
      ? { since: position.seq, ...(position.epoch !== undefined ? { epoch: position.epoch } : {}) }
      : this.options.backlog > 0
        ? { since: 0, limit: this.options.backlog }
        : {};
    this.sendNow({ action: 'channel-connect', channel, auth: this.options.token ?? null, ...recovery });
  }

  /**
   * Joins `channel` and resolves once the server has handled it; rejects with the
   * server's words when it refused (a wrong or spent token, a bad channel name), and the
   * client stays where it was.
   */
  async join(channel: string): Promise<void> {
    await this.connected();
    // The link may have dropped while connected() settled: wait for the next one.
    if (!this.ready || this.socket?.readyState !== OPEN) return this.join(channel);
    this.joining?.reject(new Error(`another join (${channel}) started before this one completed`));
    const done = new Promise<void>((resolve, reject) => {
      this.joining = { start: this.probe(), end: this.probe(), started: false, previous: this.options.channel, resolve, reject };
    });
    const { start, end } = this.joining!;
    this.sendNow({ action: 'base-action', data: start });
    this.connectChannel(channel);
    this.sendNow({ action: 'base-action', data: end });
    return done;
  }

  /** Leaves the current channel; reconnects join none. */
  leave(): void {
    this.options.channel = null;
    this.sendNow({ action: 'channel-disconnect' });
  }

  /** Associates a user id with this socket (kept for reconnects). */
  assocUser(userId: string | number): void {
    this.options.userId = userId;
    this.sendNow({ action: 'assoc-user-to-fd-action', userId });
  }

  isClosed(): boolean {
    return this.socket === undefined || this.socket.readyState !== OPEN;
  }

  /** True while a frame sent with `acknowledge` on has not been acknowledged. */
  isPending(id: string): boolean {
    return this.unacknowledged.has(id);
  }

  /** Closes for good: no reconnect; queued frames are dropped. */
  close(code = 1000, reason = ''): void {
    if (this.stopped) return;
    this.stop(new Error('client closed'));
    try {
      this.socket?.close(code, reason);
    } catch {
      // Browsers refuse codes outside 1000 and 3000-4999; the socket still has to go.
      this.socket?.close();
    }
  }

  private newId(): string {
    return `${this.idPrefix}-${(this.nextId++).toString(36)}`;
  }

  private probe(): string {
    return this.probePrefix + (this.nextId++).toString(36);
  }

  private sendNow(frame: Record<string, unknown>): void {
    if (this.socket?.readyState === OPEN) this.socket.send(JSON.stringify(frame));
  }

  private drop(raw: string): void {
    if (this.unacknowledged.size > 0) {
      const id = (parseFrame(raw) as { id?: unknown } | undefined)?.id;
      if (typeof id === 'string') this.unacknowledged.delete(id);
    }
    this.emit('dropped', raw);
  }

  private request(): ConnectRequest {
    const { token, subprotocol, headers } = this.options;
    return { url: connectionUrl(this.options), subprotocol, headers, hasToken: Boolean(token) };
  }

  private connect(): void {
    // The previous socket must not run a heartbeat or deliver frames beside the new one.
    if (this.socket) this.detach(this.socket);
    this.stopHeartbeat();
    this.stopHeartbeat = noop;
    this.opened = false;
    this.lastError = undefined;
    let socket: ClientSocket;
    try {
      socket = this.platform.connect(this.request());
    } catch (error) {
      // Thrown while the constructor runs (a malformed URL): report it once listeners exist.
      queueMicrotask(() => {
        this.reportError(toError(error), error);
        this.stop(toError(error));
      });
      return;
    }
    this.socket = socket;
    socket.binaryType = this.options.binaryType;
    socket.onopen = (event) => this.onOpen(socket, event);
    socket.onmessage = (event) => this.onMessage(socket, event.data);
    socket.onclose = (event) => this.onClose(socket, event);
    socket.onerror = (event) => this.onError(socket, event);
  }

  private onOpen(socket: ClientSocket, event: unknown): void {
    if (socket !== this.socket) return;
    this.opened = true;
    this.attempt = 0;
    this.seen = new RecentIds();
    this.emit('open');
    this.options.onOpen(event);
    if (this.stopped) return;
    if (this.options.heartBeat) {
      const pongTimeout = this.options.pongTimeout ?? this.options.heartBeatInterval;
      this.stopHeartbeat = this.platform.heartbeat(socket, this.options.heartBeatInterval, pongTimeout, () => this.linkDead(socket));
    }
    const { userId, channel } = this.options;
    if (userId !== null && userId !== undefined) this.sendNow({ action: 'assoc-user-to-fd-action', userId });
    this.connectChannel(channel);
    this.ready = true;
    for (const raw of this.outbox.drain()) socket.send(raw);
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    waiters.forEach((w) => w.resolve());
    this.emit('ready');
    this.options.onReady();
  }

  private onMessage(socket: ClientSocket, data: unknown): void {
    if (socket !== this.socket || typeof data !== 'string') return;
    this.options.onRawMessage(data);
    const frame = parseFrame(data);
    if (!frame) return;
    if (typeof frame.id === 'string') {
      // Answer every copy: the server re-sends until it hears this; the app sees the first only.
      this.sendNow({ action: 'acknowledge-action', data: frame.id });
      if (!this.seen.firstSight(frame.id)) return;
    }
    if (this.handleInternal(frame)) return;
    if (typeof frame.seq === 'number' && !this.firstOfSeq(frame)) return;
    this.options.onMessage(frame.data, frame.fd);
    if (frame.action === 'connection-info') return;
    const presence = presenceOf(frame);
    if (presence) return this.emit('presence', presence);
    const refusal = joinRefusal(frame);
    if (refusal !== undefined) return this.refuseJoin(refusal);
    if (frame.action === 'error' && this.joining?.started) return this.refuseJoin(String(frame.data));
    this.emit('message', frame.data, frame.fd, frame);
  }

  /**
   * A numbered frame of the client's channel: false when it came before (a replay meeting
   * live frames), or when it is one of this client's own earlier messages in a replay.
   */
  private firstOfSeq(frame: ServerFrame): boolean {
    const channel = this.options.channel;
    if (!channel) return true;
    const replaying = this.replaying?.channel === channel && this.replaying.left > 0;
    if (replaying) this.replaying!.left--;
    let position = this.positions.get(channel);
    if (!position) this.positions.set(channel, (position = { epoch: undefined, seq: 0 }));
    if (frame.seq! <= position.seq) return false;
    position.seq = frame.seq!;
    return !(replaying && frame.fd !== undefined && this.ownFds.includes(frame.fd));
  }

  private onRecovery(data: Record<string, unknown>): void {
    const channel = String(data['channel']);
    const epoch = String(data['epoch']);
    const seq = Number(data['seq']);
    const replayed = Number(data['replayed']);
    const before = this.positions.get(channel);
    const sameEpoch = before !== undefined && (before.epoch === undefined || before.epoch === epoch) && before.seq <= seq;
    // A new epoch numbers from 1 again: what came before says nothing of the frames now.
    this.positions.set(channel, { epoch, seq: sameEpoch ? before.seq : 0 });
    this.replaying = { channel, left: replayed };
    const recovered = data['recovered'] === true;
    const initial = before === undefined;
    const missed = initial ? undefined : sameEpoch ? Math.max(0, seq - before.seq - replayed) : undefined;
    this.emit('recovery', { channel, epoch, seq, recovered, replayed, missed, initial });
  }

  /** Frames that only the client itself asked for; true when `frame` was one. */
  private handleInternal(frame: ServerFrame): boolean {
    if (frame.action === 'connection-info') {
      this.fd = connectionFd(frame) ?? this.fd;
      // Its fds on every connection: after a reconnect, a replay holds its own earlier frames.
      if (this.fd !== undefined && !this.ownFds.includes(this.fd)) this.ownFds.push(this.fd);
      if (this.ownFds.length > 64) this.ownFds.shift();
      if (this.fd !== undefined) this.emit('fd', this.fd);
      return false;
    }
    if (frame.action === 'channel-recovery' && typeof frame.data === 'object' && frame.data !== null) {
      this.onRecovery(frame.data as Record<string, unknown>);
      return true;
    }
    if (frame.action === 'acknowledge-action' && typeof frame.data === 'string' && frame.fd === undefined) {
      if (!this.unacknowledged.delete(frame.data)) return false;
      this.emit('acknowledged', frame.data);
      return true;
    }
    if (frame.action === 'base-action' && typeof frame.data === 'string' && frame.data.startsWith(this.probePrefix)) {
      const joining = this.joining;
      if (joining && frame.data === joining.start) joining.started = true;
      if (joining && frame.data === joining.end) {
        this.joining = undefined;
        joining.resolve();
      }
      return true;
    }
    return false;
  }

  private refuseJoin(words: string): void {
    const joining = this.joining;
    if (joining?.started) {
      this.joining = undefined;
      this.options.channel = joining.previous;
      joining.reject(new Error(words));
      return;
    }
    // The join sent on open (or by connectChannel) was refused: nobody awaits it.
    this.reportError(new Error(`joining ${String(this.options.channel)} was refused: ${words}`));
  }

  private linkDead(socket: ClientSocket): void {
    if (socket !== this.socket || this.stopped) return;
    this.lastError = new Error('heartbeat lost');
    this.detach(socket);
    this.platform.kill(socket);
    // A browser would wait for a close handshake that a dead link never completes.
    this.onClose(socket, { code: 1006, reason: 'heartbeat lost' }, true);
  }

  private detach(socket: ClientSocket): void {
    socket.onopen = noop;
    socket.onmessage = noop;
    socket.onclose = noop;
    // `ws` throws an error event that nobody listens to.
    socket.onerror = noop;
  }

  private onClose(socket: ClientSocket, event: { code: number; reason: string }, detached = false): void {
    if (socket !== this.socket) return;
    if (!detached) this.detach(socket);
    const opened = this.opened;
    this.opened = false;
    this.ready = false;
    this.stopHeartbeat();
    this.stopHeartbeat = noop;
    const joining = this.joining;
    this.joining = undefined;
    if (joining) {
      // Unconfirmed: reconnects go back to the channel the client was in.
      this.options.channel = joining.previous;
      joining.reject(new Error(`connection closed (${event.code}) before the join completed`));
    }
    this.emit('close', event.code, event.reason);
    this.options.onClose(event);
    this.options.onCloseCallback(event);
    if (this.stopped) return;
    if (!this.options.reconnect) return this.stop(new Error(`connection closed (${event.code}) and reconnect is off`));
    if (opened) return this.scheduleReconnect();
    void this.afterFailedHandshake();
  }

  /** A refused handshake is refused again with the same token: a spent temporary token must not be retried forever. */
  private async afterFailedHandshake(): Promise<void> {
    this.probing = true;
    let refused: string | undefined;
    try {
      refused = this.options.refreshToken ? undefined : await this.platform.refusal(this.request(), this.lastError);
    } finally {
      this.probing = false;
    }
    if (this.stopped) return;
    if (refused === undefined) return this.scheduleReconnect();
    const error = new Error(`${refused}; not reconnecting (a spent temporary token? give refreshToken to fetch a new one)`);
    this.reportError(error);
    this.stop(error);
  }

  private onError(socket: ClientSocket, event: unknown): void {
    if (socket !== this.socket) return;
    this.lastError = toError(event);
    if (!this.stopped) this.reportError(this.lastError, event);
  }

  /** Typed listeners get an Error; the published callback gets what the socket gave, as before. */
  private reportError(error: Error, raw: unknown = error): void {
    this.options.onError(raw);
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  private stop(reason: Error): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stopReason = reason;
    clearInterval(this.healthTimer);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.stopHeartbeat();
    this.stopHeartbeat = noop;
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    waiters.forEach((w) => w.reject(reason));
    for (const raw of this.outbox.drain()) this.drop(raw);
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer !== undefined) return;
    if (this.attempt >= this.options.maxReconnectAttempts) {
      const gaveUp = new Error(`gave up reconnecting after ${this.attempt} attempts`);
      this.reportError(gaveUp);
      return this.stop(gaveUp);
    }
    const delay = backoffDelay(this.attempt, this.options.reconnectDelay, this.options.reconnectDelayMax);
    this.attempt++;
    this.emit('reconnecting', this.attempt, delay);
    this.reconnectTimer = setTimeout(() => void this.reconnectNow(), delay);
  }

  private async reconnectNow(): Promise<void> {
    if (this.options.refreshToken) {
      try {
        this.options.token = await this.options.refreshToken();
      } catch (error) {
        // Try anyway: the old token may still be good, and a refusal comes back here.
        this.reportError(toError(error), error);
      }
    }
    this.reconnectTimer = undefined;
    if (!this.stopped) this.connect();
  }
}
