import cluster from 'node:cluster';
import { effectiveWorkers as workerCount, type ServerConfig } from '../config.js';
import { FrameErrors, HttpErrors } from '../errors.js';
import type { Bus, Publication } from '../bus/bus.js';
import type { WorkerUsage } from '../ipc/messages.js';
import type { PrimaryLink } from '../ipc/primary-link.js';
import type { Logger } from '../log.js';
import type { ActionDefinition } from '../protocol/native/action.js';
import { envelope } from '../protocol/native/envelope.js';
import type { Hub, ProtocolOptions, Session } from '../protocol/native/hub.js';
import { NativeProtocol, type NativeSession } from '../protocol/native/protocol.js';
import type { Registry } from '../registry/registry.js';
import { ALL_TOPIC, LOBBY_TOPIC, channelTopic } from '../registry/topics.js';
import type { TaskRunner } from '../tasks/task-runner.js';
import type { FanoutInput, FanoutOutput } from '../tasks/types.js';
import { secretsEqual } from '../tokens.js';
import { Transport, type HandshakeInfo, type HandshakeVerdict } from '../transport/app.js';
import type { Connection } from '../transport/connection.js';
import { AckTracker } from './ack-tracker.js';
import { FdPool } from './fd-pool.js';
import { httpRoutes, notFound } from './http-api.js';
import { originChecker } from './origins.js';
import { SlowConsumers } from './slow-consumers.js';
import { FloodControl } from './token-bucket.js';
import { RefusalLog } from './refusal-log.js';

export interface EventServerDeps {
  config: ServerConfig;
  link: PrimaryLink;
  bus: Bus;
  registry: Registry;
  tasks: TaskRunner;
  log: Logger;
  actions: readonly ActionDefinition[];
}

interface Local {
  session: NativeSession;
  connection: Connection;
  /** Present when --message-rate limits what a socket may send. */
  flood: FloodControl | undefined;
  /** Bytes this socket sent across workers in the current second, and when that second began. */
  crossBytes: number;
  crossWindow: number;
  /** Set once the socket left too much unacknowledged: it is told once and closed. */
  ackOverflowed: boolean;
}

const FD_LOW_WATER = 256;
const USAGE_INTERVAL_MS = 1000;
/** Time a draining worker keeps running after its last socket closed, for the close handshakes. */
const CLOSE_LINGER_MS = 500;
/** While the way across is congested, a socket that sent more than this share of --ipc-queue-limit across in the last second is refused. */
const HEAVY_SENDER_SHARE = 1 / 64;

/**
 * One event worker: wires the uWS transport to the native protocol, and implements the
 * protocol's Hub over uWS topics, the bus, the registry and the task pool.
 */
export class EventServer implements Hub {
  readonly options: ProtocolOptions;
  private readonly transport: Transport;
  private readonly protocol: NativeProtocol;
  private readonly acks: AckTracker;
  private readonly fds: FdPool;
  private readonly locals = new Map<number, Local>();
  /** Local subscribers per topic: the recipients an acknowledged publication is tracked for. */
  private readonly topicMembers = new Map<string, Set<number>>();
  private readonly ackPrefix = `${cluster.worker?.id ?? 0}-`;
  private nextAck = 0;
  /** Set once draining: sockets that finish their handshake after it are closed the same way. */
  private draining: { code: number; reason: string } | undefined;
  private onEmpty: () => void = () => {};
  private readonly slow: SlowConsumers;
  private readonly uwsBackpressure: number;
  private framesReceived = 0;
  private framesPublished = 0;
  private ipcRefused = 0;
  /** Handshakes that passed every check and are on their way to open: they hold a connection slot. */
  private admittedUpgrades = 0;
  private readonly heavySenderBytes: number;
  private readonly refusals: RefusalLog;
  private readonly originAllowed: (origin: string | undefined) => boolean;
  /** This worker's part of --max-connections; 0 = no limit. */
  private readonly workerShare: number;

  constructor(private readonly deps: EventServerDeps) {
    const { config, link, bus, log } = deps;
    this.options = { token: config.token, broadcastSelf: config.broadcastSelf, ack: config.ack };
    this.protocol = new NativeProtocol(this, log, deps.actions, {
      maxJsonDepth: config.maxJsonDepth,
      // A frame the server accepts must fit while the socket waits on an earlier one.
      maxBacklogBytes: Math.max(1024 * 1024, config.maxPayload),
    });
    this.heavySenderBytes = config.ipcQueueLimit * HEAVY_SENDER_SHARE;
    this.refusals = new RefusalLog(log);
    // Under the close policy uWS keeps queueing past the limit, so the 1013 close frame usually still fits.
    this.uwsBackpressure = config.slowConsumer === 'close' ? config.maxBackpressure * 2 : config.maxBackpressure;
    this.slow = new SlowConsumers(config.slowConsumer, config.maxBackpressure, this.uwsBackpressure, log);
    this.originAllowed = originChecker(config.allowedOrigins);
    this.workerShare = config.maxConnections === 0 ? 0 : Math.ceil(config.maxConnections / Math.max(1, workerCount(config)));
    this.fds = new FdPool(() => link.send({ type: 'need-fds' }), FD_LOW_WATER);
    link.on('fds', (m) => this.fds.add(m.first, m.count));
    this.acks = new AckTracker({
      attempts: config.ackAttempts,
      intervalMs: config.ackTimeout * 1000,
      maxPendingPerSocket: config.ackMaxPending,
      maxPendingBytesPerSocket: config.ackMaxPendingBytes,
      resend: (fd, frame) => this.locals.get(fd)?.connection.send(frame) ?? false,
      overflow: (fd) => this.ackOverflow(fd),
      wait: (delayMs) => deps.tasks.run({ name: 'ack-timer', input: { delayMs } }),
      log,
    });
    bus.onMessage((publication) => this.deliver(publication));
    this.transport = new Transport(
      {
        maxPayload: config.maxPayload,
        idleTimeout: config.idleTimeout,
        maxHttpBody: config.maxHttpBody,
        maxBackpressure: this.uwsBackpressure,
        ...(config.tlsCert && config.tlsKey ? { tls: { certFile: config.tlsCert, keyFile: config.tlsKey, passphrase: config.tlsPassphrase } } : {}),
      },
      {
        handshake: (info) => this.handshake(info),
        allocateFd: () => this.fds.take(),
        open: (connection) => this.onOpen(connection),
        message: (connection, text, isBinary) => {
          this.framesReceived++;
          const local = this.locals.get(connection.fd);
          if (local && this.admitFrame(local)) this.protocol.message(local.session, text, isBinary);
        },
        close: (connection, code) => this.onClose(connection, code),
        drain: (connection) => this.slow.drained(connection),
        routes: httpRoutes({ config, hub: this, registry: deps.registry, health: () => ({ worker: cluster.worker?.id ?? 0 }) }),
        notFound,
        onError: (error) => log.error({ err: error }, 'request failed'),
      },
    );
  }

  async listen(): Promise<number> {
    const port = await this.transport.listen(this.deps.config.host, this.deps.config.port);
    const report = (): void => {
      this.slow.sweep(this.transport.connections());
      const usage: WorkerUsage = {
        rss: process.memoryUsage().rss,
        slowConsumersClosed: this.slow.closed,
        slowConsumersDropping: this.slow.dropping,
        framesReceived: this.framesReceived,
        framesPublished: this.framesPublished,
        ackPending: this.acks.size,
        ackGivenUp: this.acks.givenUp,
        ackOverflowClosed: this.acks.overflowed,
        ipcQueuedBytes: this.deps.link.queuedBytes,
        ipcRefused: this.ipcRefused,
      };
      this.deps.link.send({ type: 'usage', usage });
    };
    report();
    setInterval(report, USAGE_INTERVAL_MS).unref();
    return port;
  }

  /**
   * Stops accepting, then closes every socket with `code` (1001 going away, 1012 restart)
   * and resolves when all are closed or `timeoutMs` passed.
   */
  async drain(code: number, timeoutMs: number): Promise<void> {
    this.draining = { code, reason: code === 1012 ? 'Server restarting' : 'Server shutting down' };
    this.transport.stopListening();
    const empty = new Promise<void>((resolve) => (this.onEmpty = resolve));
    for (const connection of [...this.transport.connections()]) connection.end(code, this.draining.reason);
    if (this.transport.connectionCount === 0) this.onEmpty();
    const deadline = Date.now() + timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([empty, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    this.deps.link.flush();
    // uWS reports a socket closed as soon as it queued the close frame; exiting at once would
    // reset connections whose close frame or close reply is still in flight.
    const linger = Math.min(CLOSE_LINGER_MS, deadline - Date.now());
    if (linger > 0) await new Promise((resolve) => setTimeout(resolve, linger));
  }

  // ---- Hub ----

  newAckId(): string | undefined {
    return this.options.ack ? this.ackPrefix + (this.nextAck++).toString(36) : undefined;
  }

  send(session: Session, frame: string, ackId?: string): void {
    const local = this.locals.get(session.fd);
    if (!local || !local.connection.send(frame)) return;
    if (ackId) this.acks.track(ackId, frame, [session.fd]);
  }

  publish(topic: string, frame: string, options: { except?: Session; ackId?: string; from?: Session } = {}): boolean {
    const { bus } = this.deps;
    const crosses = bus.crosses(topic);
    if (crosses && !this.admitAcross(options.from ?? options.except, frame.length)) {
      this.ipcRefused++;
      return false;
    }
    this.framesPublished++;
    const sender = options.except ? this.locals.get(options.except.fd)?.connection : undefined;
    this.transport.publish(topic, frame, sender);
    if (crosses) bus.publish(options.ackId ? { topic, frame, ackId: options.ackId } : { topic, frame });
    if (options.ackId) this.trackTopic(options.ackId, topic, frame, options.except?.fd);
    return true;
  }

  async join(session: Session, channel: string): Promise<void> {
    const local = this.locals.get(session.fd);
    if (!local) return;
    if (session.channel !== channel) {
      // Subscribe before the registry knows: a publication routed here after the join must find the socket subscribed.
      this.move(local, session.channel === null ? LOBBY_TOPIC : channelTopic(session.channel), channelTopic(channel));
      session.channel = channel;
    }
    await this.deps.registry.join(session.fd, channel);
  }

  async leave(session: Session): Promise<void> {
    const local = this.locals.get(session.fd);
    if (!local || session.channel === null) return;
    this.move(local, channelTopic(session.channel), LOBBY_TOPIC);
    session.channel = null;
    await this.deps.registry.leave(session.fd);
  }

  async assoc(session: Session, userId: string | number): Promise<void> {
    session.userId = userId;
    await this.deps.registry.assoc(session.fd, userId);
  }

  consumeToken(token: string, channel: string): Promise<boolean> {
    return this.deps.registry.consumeToken(token, channel);
  }

  fanout(input: FanoutInput): Promise<FanoutOutput> {
    return this.deps.tasks.run({ name: 'fanout', input });
  }

  acknowledge(session: Session, id: string): void {
    this.acks.acknowledge(session.fd, id);
  }

  /**
   * Whether a frame of `bytes` may cross to the other workers now: always while the way is
   * clear; while it is congested only for senders that sent little across this last second
   * (HTTP publishes, which have no socket, count as heavy); never while it is full.
   */
  private admitAcross(sender: Session | undefined, bytes: number): boolean {
    const pressure = this.deps.bus.pressure();
    if (pressure === 'full') return false;
    const local = sender ? this.locals.get(sender.fd) : undefined;
    if (!local) return pressure === 'clear';
    const now = Date.now();
    if (now - local.crossWindow >= 1000) {
      local.crossWindow = now;
      local.crossBytes = 0;
    }
    if (pressure === 'congested' && local.crossBytes > this.heavySenderBytes) return false;
    local.crossBytes += bytes;
    return true;
  }

  /** A socket left more unacknowledged than it may: told once, then closed. */
  private ackOverflow(fd: number): void {
    const local = this.locals.get(fd);
    if (!local || local.ackOverflowed) return;
    local.ackOverflowed = true;
    const { ackMaxPending, ackMaxPendingBytes } = this.deps.config;
    this.deps.log.warn({ fd, limit: ackMaxPending, bytes: ackMaxPendingBytes }, 'socket left too much unacknowledged: closed');
    // Not tracked itself: this socket is past acknowledging anything.
    local.connection.send(envelope('error', FrameErrors.ackOverflow(ackMaxPending, ackMaxPendingBytes), fd, this.newAckId()));
    local.connection.end(1008, 'Too many unacknowledged messages');
  }

  // ---- transport events ----

  private async handshake(info: HandshakeInfo): Promise<HandshakeVerdict> {
    const { config, registry } = this.deps;
    const refuse = (status: number, error: string, kind: string, reason: string): HandshakeVerdict => {
      this.refusals.refused(kind, { remoteAddress: info.remoteAddress, status, reason }, 'handshake refused');
      return { accept: false, status, body: JSON.stringify({ error }) };
    };
    if (!this.originAllowed(info.headers['origin'])) {
      return refuse(403, HttpErrors.originNotAllowed, 'origin', `origin ${info.headers['origin']?.slice(0, 200)} not allowed`);
    }
    const { token } = config;
    if (token !== undefined) {
      const given = info.query.get('token');
      const valid = given !== null && given !== '' && (secretsEqual(given, token) || (await registry.admitToken(given)));
      if (!valid) return refuse(401, HttpErrors.unauthorized, 'token', given ? 'wrong token' : 'no token');
    }
    // Counted only now that the token passed, so unauthenticated handshakes take no one's slot.
    if (this.workerShare > 0 && this.transport.connectionCount + this.admittedUpgrades >= this.workerShare) {
      return refuse(503, HttpErrors.tooManyConnections, 'connections', 'connection limit reached');
    }
    this.admittedUpgrades++;
    let admitted = true;
    const unadmit = (): void => {
      if (admitted) this.admittedUpgrades--;
      admitted = false;
    };
    if (config.maxConnectionsPerIp > 0) {
      const address = info.remoteAddress;
      if (!(await registry.admitAddress(address, config.maxConnectionsPerIp))) {
        unadmit();
        return refuse(429, HttpErrors.tooManyFromAddress, 'address', 'connections per address limit reached');
      }
      return { accept: true, opened: unadmit, abandoned: () => (unadmit(), registry.releaseAddress(address)) };
    }
    return { accept: true, opened: unadmit, abandoned: unadmit };
  }

  /** Flood control: true when the frame may be processed. */
  private admitFrame(local: Local): boolean {
    if (!local.flood) return true;
    switch (local.flood.check()) {
      case 'accept':
        return true;
      case 'refuse-first':
        this.protocol.refuse(local.session, FrameErrors.rateLimited(this.deps.config.messageRate));
        return false;
      case 'refuse':
        return false;
      case 'close':
        this.deps.log.warn({ fd: local.session.fd }, 'flooding socket closed');
        local.connection.end(1008, 'Message rate limit exceeded');
        return false;
    }
  }

  private onOpen(connection: Connection): void {
    const session = this.protocol.createSession(connection.fd);
    const { messageRate, messageBurst } = this.deps.config;
    const flood = messageRate > 0 ? new FloodControl(messageRate, messageBurst || Math.max(1, Math.ceil(messageRate * 2))) : undefined;
    const local: Local = { session, connection, flood, crossBytes: 0, crossWindow: 0, ackOverflowed: false };
    this.locals.set(connection.fd, local);
    // uWS publishes nothing to a socket with no subscription, so every socket starts in two topics.
    this.subscribe(local, ALL_TOPIC);
    this.subscribe(local, LOBBY_TOPIC);
    this.deps.registry.open(connection.fd, this.deps.config.maxConnectionsPerIp > 0 ? connection.remoteAddress : undefined);
    this.deps.log.debug({ fd: connection.fd, remoteAddress: connection.remoteAddress }, 'connection open');
    this.protocol.open(session);
    // A handshake already under way when the listener closed is not refused: the socket opens
    // and is then told to go like every other socket here, so its client reconnects elsewhere.
    if (this.draining) connection.end(this.draining.code, this.draining.reason);
  }

  private onClose(connection: Connection, code: number): void {
    if (this.draining && this.transport.connectionCount === 0) this.onEmpty();
    const local = this.locals.get(connection.fd);
    if (!local) return;
    this.locals.delete(connection.fd);
    const { channel } = local.session;
    for (const topic of [ALL_TOPIC, channel === null ? LOBBY_TOPIC : channelTopic(channel)]) this.unsubscribeMember(topic, connection.fd);
    this.acks.forget(connection.fd);
    this.deps.registry.close(connection.fd);
    this.deps.log.debug({ fd: connection.fd, code }, 'connection closed');
  }

  /** A publication from another worker: the same bytes, to the local subscribers. */
  private deliver(publication: Publication): void {
    this.transport.publish(publication.topic, publication.frame);
    if (publication.ackId) this.trackTopic(publication.ackId, publication.topic, publication.frame, undefined);
  }

  private trackTopic(ackId: string, topic: string, frame: string, except: number | undefined): void {
    const members = this.topicMembers.get(topic);
    if (!members) return;
    this.acks.track(ackId, frame, except === undefined ? members : [...members].filter((fd) => fd !== except));
  }

  private move(local: Local, from: string, to: string): void {
    local.connection.unsubscribe(from);
    this.unsubscribeMember(from, local.session.fd);
    this.subscribe(local, to);
  }

  private unsubscribeMember(topic: string, fd: number): void {
    const members = this.topicMembers.get(topic);
    if (!members) return;
    members.delete(fd);
    if (members.size === 0) this.topicMembers.delete(topic);
  }

  private subscribe(local: Local, topic: string): void {
    local.connection.subscribe(topic);
    let members = this.topicMembers.get(topic);
    if (!members) this.topicMembers.set(topic, (members = new Set()));
    members.add(local.session.fd);
  }
}
