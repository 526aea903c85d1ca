import cluster from 'node:cluster';
import { FrameErrors, HttpErrors, ServiceUnavailable } from '../errors.js';
import { REPLAY_SOCKET_PART_BYTES, withId, type Replay, type ReplayRequest } from '../history/sequenced-frame.js';
import type { Publication } from '../ipc/messages.js';
import type { ActionDefinition } from '../protocol/native/action.js';
import { envelope } from '../protocol/native/envelope.js';
import type { Hub, Recovery, ProtocolOptions, Session } from '../protocol/native/hub.js';
import { NativeProtocol, type NativeSession } from '../protocol/native/protocol.js';
import type { FanoutItem } from '../tasks/types.js';
import { secretsEqual } from '../tokens.js';
import type { HandshakeInfo } from '../transport/app.js';
import type { Connection } from '../transport/connection.js';
import type { HttpRoute } from '../http/routes.js';
import { AckTracker } from './ack-tracker.js';
import { nativeRoutes } from '../protocol/native/http-api.js';
import type { HandshakeRefusalOf, Mount, WorkerServices } from './mount.js';
import { ALL_TOPIC, LOBBY_TOPIC, channelTopic, historyTopic, isNumbered } from '../topics.js';

/** A socket's protocol session and what the mount adds to it, in one object per socket. */
interface NativeSocket extends NativeSession {
  readonly connection: Connection;
  /** Set once the socket left too much unacknowledged: it is told once and closed. */
  ackOverflowed: boolean;
  /**
   * Fanouts of this socket still being planned, their bytes, and the chain that keeps every
   * output of the socket in the order of its frames while any is: the frames behind a
   * fanout run at once, their answers and publications wait for it.
   */
  fanouts: number;
  fanoutBytes: number;
  /** Created by the first output that has to wait: most sockets never hold one. */
  outputs: Promise<void> | undefined;
  /** Outputs in the chain not yet run, fanouts included: while any is, new ones join the chain. */
  chained: number;
}

/** Fanouts one socket may have being planned at once, and their bytes: a burst up to these is served in full. */
const MAX_PENDING_FANOUTS = 4096;
const MAX_PENDING_FANOUT_BYTES = 4 * 1024 * 1024;

/**
 * The native Socket Conveyor protocol as the worker mounts it: implements the protocol's
 * Hub over the shell's topics and the registry, and keeps what only this protocol has
 * (channels per socket, acknowledgments and their re-sends).
 */
export class NativeMount implements Mount, Hub {
  readonly options: ProtocolOptions;
  readonly routes: HttpRoute[];
  private readonly protocol: NativeProtocol;
  private readonly acks: AckTracker;
  private readonly sockets = new Map<number, NativeSocket>();
  /**
   * Local subscribers per topic: the recipients an acknowledged publication is tracked for.
   * Kept only with --ack: without it nothing is tracked, and two entries per socket are saved.
   */
  private readonly topicMembers = new Map<string, Set<number>>();
  private readonly tracksMembers: boolean;
  /** Ack ids are unique per worker, and with several nodes per node too. */
  private readonly ackPrefix: string;
  private nextAck = 0;
  /** Sockets whose next replay part waits for them to drain. */
  private readonly awaitingDrain = new Map<number, () => void>();
  private fanoutBatch: { item: FanoutItem; resolve: (frame: string) => void; reject: (error: unknown) => void }[] = [];

  constructor(
    private readonly services: WorkerServices,
    actions: readonly ActionDefinition[],
  ) {
    const { config, log } = services;
    this.ackPrefix = `${services.nodeId !== undefined ? `${services.nodeId}.` : ''}${cluster.worker?.id ?? 0}-`;
    this.options = { token: config.token, broadcastSelf: config.broadcastSelf, ack: config.ack };
    this.tracksMembers = config.ack;
    this.protocol = new NativeProtocol(this, log, actions, {
      maxJsonDepth: config.maxJsonDepth,
      // A frame the server accepts must fit while the socket waits on an earlier one.
      maxBacklogBytes: Math.max(1024 * 1024, config.maxPayload),
    });
    this.acks = new AckTracker({
      attempts: config.ackAttempts,
      intervalMs: config.ackTimeout * 1000,
      maxPendingPerSocket: config.ackMaxPending,
      maxPendingBytesPerSocket: config.ackMaxPendingBytes,
      resend: (fd, frame) => this.sockets.get(fd)?.connection.send(frame) ?? false,
      overflow: (fd) => this.ackOverflow(fd),
      wait: (delayMs) => services.tasks.run({ name: 'ack-timer', input: { delayMs } }),
      log,
    });
    this.routes = nativeRoutes({ config, hub: this, registry: services.registry });
  }

  // ---- Mount ----

  admit(info: HandshakeInfo): HandshakeRefusalOf | undefined | Promise<HandshakeRefusalOf | undefined> {
    const { token } = this.services.config;
    if (token === undefined) return undefined;
    const given = info.query.get('token');
    const refusal: HandshakeRefusalOf = { status: 401, body: JSON.stringify({ error: HttpErrors.unauthorized }), kind: 'token', reason: given ? 'wrong token' : 'no token' };
    if (given === null || given === '') return refusal;
    if (secretsEqual(given, token)) return undefined;
    // Perhaps a temporary token: only the registry knows.
    return this.services.registry.admitToken(given).then(
      (valid) => (valid ? undefined : refusal),
      (error: unknown) => {
        // Temporary tokens live in Redis with several nodes: while it is away, 503, not 401.
        if (error instanceof ServiceUnavailable) return { status: 503, body: JSON.stringify({ error: HttpErrors.redisDown }), kind: 'redis', reason: 'Redis unreachable' };
        throw error;
      },
    );
  }

  open(connection: Connection): void {
    // A NativeSession's fields and the mount's in one literal: spreading a session made apart
    // would put the mount's fields outside the object, in a second allocation.
    const socket: NativeSocket = {
      fd: connection.fd,
      channel: null,
      userId: undefined,
      busy: false,
      backlog: undefined,
      backlogBytes: 0,
      connection,
      ackOverflowed: false,
      fanouts: 0,
      fanoutBytes: 0,
      outputs: undefined,
      chained: 0,
    };
    this.sockets.set(connection.fd, socket);
    // uWS publishes nothing to a socket with no subscription, so every socket starts in two topics.
    this.subscribe(socket, ALL_TOPIC);
    this.subscribe(socket, LOBBY_TOPIC);
    this.services.registry.open(connection.fd, this.services.config.maxConnectionsPerIp > 0 ? connection.remoteAddress : undefined, true);
    this.protocol.open(socket);
  }

  message(connection: Connection, text: string, isBinary: boolean): void {
    const socket = this.sockets.get(connection.fd);
    if (socket) this.protocol.message(socket, text, isBinary);
  }

  close(connection: Connection): void {
    const socket = this.sockets.get(connection.fd);
    if (!socket) return;
    this.sockets.delete(connection.fd);
    const { channel } = socket;
    for (const topic of [ALL_TOPIC, channel === null ? LOBBY_TOPIC : channelTopic(channel)]) this.unsubscribeMember(topic, connection.fd);
    if (channel !== null) this.unsubscribeMember(historyTopic(channelTopic(channel)), connection.fd);
    this.acks.forget(connection.fd);
    this.awaitingDrain.get(connection.fd)?.();
    this.awaitingDrain.delete(connection.fd);
    this.services.registry.close(connection.fd);
    if (channel !== null) this.services.hooks.run('channelLeft', { id: connection.fd, channel, protocol: 'native' });
  }

  rateLimited(connection: Connection): void {
    const socket = this.sockets.get(connection.fd);
    if (socket) this.protocol.refuse(socket, FrameErrors.rateLimited(this.services.config.messageRate));
  }

  drainClose(restart: boolean): { code: number; reason: string } {
    return restart ? { code: 1012, reason: 'Server restarting' } : { code: 1001, reason: 'Server shutting down' };
  }

  /** A publication from elsewhere went out on `topic` here: its recipients owe an acknowledgment. */
  delivered(publication: Publication, topic: string): void {
    if (publication.ackId) this.trackTopic(publication.ackId, topic, publication.frame, publication.except);
  }

  tick(): void {}

  usage(): Record<string, number> {
    return { ackPending: this.acks.size, ackGivenUp: this.acks.givenUp, ackOverflowClosed: this.acks.overflowed };
  }

  // ---- Hub ----

  newAckId(): string | undefined {
    return this.options.ack ? this.ackPrefix + (this.nextAck++).toString(36) : undefined;
  }

  send(session: Session, frame: string, ackId?: string): void {
    const socket = this.sockets.get(session.fd);
    if (!socket) return;
    this.inOrder(socket, () => this.sendNow(socket, frame, ackId));
  }

  private sendNow(socket: NativeSocket, frame: string, ackId: string | undefined): void {
    if (socket.connection.send(frame) && ackId) this.acks.track(ackId, frame, [socket.fd]);
  }

  /**
   * An error frame sent from inside the socket's chain of outputs: at once, so that it keeps
   * its place, and tracked for acknowledgment like every other answer.
   */
  private errorNow(socket: NativeSocket, text: string): void {
    const ackId = this.newAckId();
    this.sendNow(socket, envelope('error', text, socket.fd, ackId), ackId);
  }

  publish(topic: string, frame: string, options: { except?: Session; from?: Session; ackId?: string } = {}): boolean {
    const sender = this.sockets.get((options.from ?? options.except)?.fd ?? -1);
    if (!sender || sender.chained === 0) return this.publishNow(topic, frame, options);
    // Behind a fanout of the same socket: it goes out after it, and a refusal is told then.
    this.inOrder(sender, () => {
      if (!this.publishNow(topic, frame, options)) this.errorNow(sender, FrameErrors.busy);
    });
    return true;
  }

  private publishNow(topic: string, frame: string, options: { except?: Session; from?: Session; ackId?: string }): boolean {
    const except = options.except?.fd;
    const from = (options.from ?? options.except)?.fd;
    const sent = this.services.publish(topic, frame, {
      ...(except !== undefined ? { except } : {}),
      ...(from !== undefined ? { from } : {}),
      ...(options.ackId ? { ackId: options.ackId } : {}),
    });
    // A numbered frame is tracked when it comes back numbered (delivered()).
    if (sent && options.ackId && !isNumbered(this.services.config.history, topic)) this.trackTopic(options.ackId, topic, frame, except);
    return sent;
  }

  /** Runs an output of `socket` now, or after its fanouts still being planned and the outputs waiting behind them. */
  private inOrder(socket: NativeSocket, output: () => void): void {
    if (socket.chained === 0) return output();
    socket.chained++;
    // An output that throws must not stop the ones behind it.
    const guarded = (): void => {
      try {
        output();
      } catch (error) {
        this.services.log.error({ err: error, fd: socket.fd }, 'queued output failed');
      }
    };
    socket.outputs = (socket.outputs ?? Promise.resolve()).then(guarded).finally(() => this.unchain(socket));
  }

  /** An output of the chain ran: once none is left, the chain is let go. */
  private unchain(socket: NativeSocket): void {
    if (--socket.chained === 0) socket.outputs = undefined;
  }

  async join(session: Session, channel: string, recovery?: Recovery): Promise<void> {
    const socket = this.sockets.get(session.fd);
    if (!socket) return;
    const previous = session.channel;
    const history = this.services.config.history > 0;
    const recovering = history && recovery !== undefined;
    if (previous === channel) {
      await this.services.registry.join(session.fd, channel);
      if (recovering) await this.recover(socket, channel, recovery, false);
      return;
    }
    // Subscribe before the registry knows: a publication routed here after the join must find the socket subscribed.
    this.move(socket, previous === null ? LOBBY_TOPIC : channelTopic(previous), channelTopic(channel));
    if (previous !== null && history) this.unsubscribe(socket, historyTopic(channelTopic(previous)));
    // A recovering joiner gets the numbered frames only after its replay, which covers those before.
    if (history && !recovering) this.subscribe(socket, historyTopic(channelTopic(channel)));
    session.channel = channel;
    await this.services.registry.join(session.fd, channel);
    if (recovering) await this.recover(socket, channel, recovery, true);
    if (previous !== null) this.services.hooks.run('channelLeft', { id: session.fd, channel: previous, protocol: 'native' });
    this.services.hooks.run('channelJoined', { id: session.fd, channel, protocol: 'native' });
  }

  async leave(session: Session): Promise<void> {
    const socket = this.sockets.get(session.fd);
    if (!socket || session.channel === null) return;
    const channel = session.channel;
    this.move(socket, channelTopic(channel), LOBBY_TOPIC);
    if (this.services.config.history > 0) this.unsubscribe(socket, historyTopic(channelTopic(channel)));
    session.channel = null;
    await this.services.registry.leave(session.fd);
    this.services.hooks.run('channelLeft', { id: session.fd, channel, protocol: 'native' });
  }

  async assoc(session: Session, userId: string | number): Promise<void> {
    session.userId = userId;
    await this.services.registry.assoc(session.fd, userId);
  }

  consumeToken(token: string, channel: string): Promise<boolean> {
    return this.services.registry.consumeToken(token, channel);
  }

  fanout(session: Session, data: unknown, dataBytes: number): string | undefined {
    const socket = this.sockets.get(session.fd);
    if (!socket) return undefined;
    const maxBytes = Math.max(MAX_PENDING_FANOUT_BYTES, this.services.config.maxPayload);
    if (socket.fanouts >= MAX_PENDING_FANOUTS || socket.fanoutBytes + dataBytes > maxBytes) return FrameErrors.fanoutBacklogFull(MAX_PENDING_FANOUTS, maxBytes);
    const ackId = this.newAckId();
    socket.fanouts++;
    socket.chained++;
    socket.fanoutBytes += dataBytes;
    const planned = this.plan({ fd: session.fd, data, ...(ackId ? { ackId } : {}) });
    socket.outputs = (socket.outputs ?? Promise.resolve())
      .then(() => planned)
      .then(
        (frame) => {
          if (!this.publishNow(ALL_TOPIC, frame, { from: session, ...(ackId ? { ackId } : {}) })) this.errorNow(socket, FrameErrors.busy);
        },
        (error: unknown) => {
          this.services.log.error({ err: error, fd: session.fd }, 'fanout planning failed');
          this.errorNow(socket, FrameErrors.internal);
        },
      )
      // A rejected link would skip every output chained behind it.
      .catch((error: unknown) => this.services.log.error({ err: error, fd: session.fd }, 'fanout output failed'))
      .finally(() => {
        socket.fanouts--;
        socket.fanoutBytes -= dataBytes;
        this.unchain(socket);
      });
    return undefined;
  }

  /**
   * Plans fanouts in the task pool in batches: every fanout asked for in one event-loop
   * turn, of every socket of this worker, goes in one task.
   */
  private plan(item: FanoutItem): Promise<string> {
    return new Promise((resolve, reject) => {
      this.fanoutBatch.push({ item, resolve, reject });
      if (this.fanoutBatch.length > 1) return;
      setImmediate(() => {
        const batch = this.fanoutBatch;
        this.fanoutBatch = [];
        this.services.tasks.run({ name: 'fanout', input: { items: batch.map((b) => b.item) } }).then(
          ({ frames }) => batch.forEach((b, i) => b.resolve(frames[i]!)),
          (error: unknown) => batch.forEach((b) => b.reject(error)),
        );
      });
    });
  }

  acknowledge(session: Session, id: string): void {
    this.acks.acknowledge(session.fd, id);
  }

  // ---- internals ----

  /** A socket left more unacknowledged than it may: told once, then closed. */
  private ackOverflow(fd: number): void {
    const socket = this.sockets.get(fd);
    if (!socket || socket.ackOverflowed) return;
    socket.ackOverflowed = true;
    const { config, log } = this.services;
    log.warn({ fd, limit: config.ackMaxPending, bytes: config.ackMaxPendingBytes }, 'socket left too much unacknowledged: closed');
    // Not tracked itself: this socket is past acknowledging anything.
    socket.connection.send(envelope('error', FrameErrors.ackOverflow(config.ackMaxPending, config.ackMaxPendingBytes), fd, this.newAckId()));
    socket.connection.end(1008, 'Too many unacknowledged messages');
  }

  private trackTopic(ackId: string, topic: string, frame: string, except: number | undefined): void {
    const members = this.topicMembers.get(topic);
    if (!members) return;
    this.acks.track(ackId, frame, members, except);
  }

  /**
   * Sends a recovering joiner `channel-recovery` and the kept frames after `since`, then lets
   * the live frames through. The replay comes in parts, each asked for once the socket drained
   * below one (a deep backlog never sits whole in any process), and the last part is read after
   * every frame up to its last seq reached this worker: the socket takes the numbered frames
   * only from then on, so none is missed and none comes twice.
   */
  private async recover(socket: NativeSocket, channel: string, recovery: Recovery, fresh: boolean): Promise<void> {
    const topic = historyTopic(channelTopic(channel));
    // Already a member: the live frames reach it; they stop until the replay is out.
    if (!fresh) this.unsubscribe(socket, topic);
    const here = (): boolean => this.sockets.has(socket.fd) && socket.channel === channel;
    let request: ReplayRequest = { channel, ...recovery, maxBytes: REPLAY_SOCKET_PART_BYTES };
    let told = false;
    try {
      for (;;) {
        let next: number | undefined;
        let epoch = '';
        await this.services.registry.inOrder(
          'historyReplay',
          (part) => {
          // Synchronously as the answer arrives: the next publication in the same batch is live.
          if (!here()) return;
          // A later part that finds frames gone (or a new epoch) says so again.
          if (!told || !part.recovered) this.tellRecovery(socket, channel, part);
          told = true;
          for (const kept of part.frames) {
            const ackId = this.newAckId();
            this.sendNow(socket, withId(kept, ackId), ackId);
          }
          ({ next, epoch } = part);
          if (next === undefined) this.subscribe(socket, topic);
          },
          request,
        );
        if (next === undefined || !here()) return;
        await this.writable(socket.connection);
        if (!here()) return;
        request = { channel, since: next, epoch, maxBytes: REPLAY_SOCKET_PART_BYTES };
      }
    } catch (error) {
      // No replay (Redis is away, too many reads waiting): the socket still takes the live frames; the client hears why.
      if (here()) this.subscribe(socket, topic);
      throw error;
    }
  }

  private tellRecovery(socket: NativeSocket, channel: string, part: Replay): void {
    const data = { channel, epoch: part.epoch, seq: part.seq, recovered: part.recovered, replayed: part.total ?? part.frames.length };
    const id = this.newAckId();
    this.sendNow(socket, JSON.stringify({ action: 'channel-recovery', data, fd: socket.fd, ...(id ? { id } : {}) }), id);
  }

  /** Resolves once the socket has less than a replay part queued (at once when it has), or closed. */
  private writable(connection: Connection): Promise<void> {
    if (connection.bufferedAmount() < REPLAY_SOCKET_PART_BYTES) return Promise.resolve();
    return new Promise((resolve) => this.awaitingDrain.set(connection.fd, resolve));
  }

  drained(connection: Connection): void {
    const resolve = this.awaitingDrain.get(connection.fd);
    if (resolve === undefined || connection.bufferedAmount() >= REPLAY_SOCKET_PART_BYTES) return;
    this.awaitingDrain.delete(connection.fd);
    resolve();
  }

  private unsubscribe(socket: NativeSocket, topic: string): void {
    socket.connection.unsubscribe(topic);
    this.unsubscribeMember(topic, socket.fd);
  }

  private move(socket: NativeSocket, from: string, to: string): void {
    socket.connection.unsubscribe(from);
    this.unsubscribeMember(from, socket.fd);
    this.subscribe(socket, to);
  }

  private unsubscribeMember(topic: string, fd: number): void {
    if (!this.tracksMembers) return;
    const members = this.topicMembers.get(topic);
    if (!members) return;
    members.delete(fd);
    if (members.size === 0) this.topicMembers.delete(topic);
  }

  private subscribe(socket: NativeSocket, topic: string): void {
    socket.connection.subscribe(topic);
    if (!this.tracksMembers) return;
    let members = this.topicMembers.get(topic);
    if (!members) this.topicMembers.set(topic, (members = new Set()));
    members.add(socket.fd);
  }
}
