import cluster from 'node:cluster';
import { effectiveWorkers as workerCount, type ServerConfig } from '../config.js';
import { HttpErrors } from '../errors.js';
import type { Bus, Publication } from '../bus/bus.js';
import type { Readiness, WorkerUsage } from '../ipc/messages.js';
import type { PrimaryLink } from '../ipc/primary-link.js';
import type { Logger } from '../log.js';
import type { ActionDefinition } from '../protocol/native/action.js';
import type { Registry } from '../registry/registry.js';
import type { TaskRunner } from '../tasks/task-runner.js';
import { Transport, type HandshakeInfo, type HandshakeVerdict } from '../transport/app.js';
import { addressResolver } from '../transport/client-address.js';
import { runtime } from '../transport/uws.js';
import type { Connection } from '../transport/connection.js';
import { FdPool } from './fd-pool.js';
import { notFoundFor, serverRoutes } from './server-routes.js';
import type { Mount, PublishOptions, WorkerServices } from './mount.js';
import { NativeMount } from './native-mount.js';
import { originChecker } from './origins.js';
import { PusherMount } from './pusher-mount.js';
import { AppMount } from './app-mount.js';
import { HookRunner } from './hook-runner.js';
import type { CustomRoute, RouteContext, ServerHooks, WebSocketApp } from '../embed/types.js';
import type { HttpRoute } from '../http/routes.js';
import { RefusalLog } from './refusal-log.js';
import { SlowConsumers } from './slow-consumers.js';
import { FloodControl } from '../protocol/token-bucket.js';
import { groupTopic, historyTopic, isNumbered } from '../topics.js';

/** What an embedder gives createServer() beside the options. */
export interface Embedding {
  actions: readonly ActionDefinition[];
  apps: readonly WebSocketApp[];
  hooks: ServerHooks;
  routes: readonly CustomRoute[];
}

export interface EventServerDeps {
  config: ServerConfig;
  nodeId?: string;
  link: PrimaryLink;
  bus: Bus;
  registry: Registry;
  tasks: TaskRunner;
  log: Logger;
  embedding: Embedding;
}

/** Bytes a socket sent across workers in the current second, and when that second began. */
interface Crossing {
  bytes: number;
  window: number;
}

const FD_LOW_WATER = 2048;
const USAGE_INTERVAL_MS = 1000;
/** Time a draining worker keeps running after its last socket closed, for the close handshakes. */
const CLOSE_LINGER_MS = 500;
/** While the way across is congested, a socket that sent more than this share of --ipc-queue-limit across in the last second is refused. */
const HEAVY_SENDER_SHARE = 1 / 64;

/**
 * One event worker's shell: the uWS transport, what every socket has whatever its
 * protocol (fds, limits, slow consumers, draining, the way to other workers, metrics), and
 * the protocols it mounts by path: Pusher on `/app/{key}` when apps are configured,
 * native everywhere else.
 */
export class EventServer implements WorkerServices {
  readonly config: ServerConfig;
  readonly nodeId: string | undefined;
  readonly log: Logger;
  readonly registry: Registry;
  readonly tasks: TaskRunner;
  readonly link: PrimaryLink;
  readonly hooks: HookRunner;
  private readonly transport: Transport;
  private readonly native: NativeMount;
  private readonly pusher: PusherMount;
  private readonly apps: AppMount;
  private readonly fds: FdPool;
  /**
   * What the shell keeps of every socket is its connection (whose mount names the
   * protocol); what only some sockets need lives beside it, created when first needed.
   */
  private readonly locals = new Map<number, Connection>();
  /** Per socket when --message-rate limits what a socket may send. */
  private readonly floods = new Map<number, FloodControl>();
  /** Sockets that sent across workers: what they sent this last second. */
  private readonly crossings = new Map<number, Crossing>();
  /** Set once draining: sockets that finish their handshake after it are closed the same way. */
  private draining: { restart: boolean } | undefined;
  private onEmpty: () => void = () => {};
  private readiness: Readiness = 'starting';
  private readonly slow: SlowConsumers;
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
    this.config = config;
    this.nodeId = deps.nodeId;
    this.log = log;
    this.registry = deps.registry;
    this.tasks = deps.tasks;
    this.link = link;
    this.hooks = new HookRunner(deps.embedding.hooks, log);
    // Under the close policy uWS keeps queueing past the limit, so the 1013 close frame usually still fits.
    const uwsBackpressure = config.slowConsumer === 'close' ? config.maxBackpressure * 2 : config.maxBackpressure;
    this.slow = new SlowConsumers(config.slowConsumer, config.maxBackpressure, uwsBackpressure, log);
    this.originAllowed = originChecker(config.allowedOrigins);
    this.workerShare = config.maxConnections === 0 ? 0 : Math.ceil(config.maxConnections / Math.max(1, workerCount(config)));
    this.heavySenderBytes = config.ipcQueueLimit * HEAVY_SENDER_SHARE;
    this.refusals = new RefusalLog(log);
    this.fds = new FdPool(() => link.send({ type: 'need-fds' }), FD_LOW_WATER);
    link.on('fds', (m) => this.fds.add(m.first, m.count));
    link.on('readiness', (m) => (this.readiness = m.state));
    this.native = new NativeMount(this, deps.embedding.actions);
    this.pusher = new PusherMount(this);
    this.apps = new AppMount(this, deps.embedding.apps);
    link.on('hook', (message) => {
      if ('topic' in message) return this.apps.groupHook(message.hook, message.topic);
      this.hooks.run(message.hook, { channel: message.channel, protocol: message.protocol, ...(message.app !== undefined ? { app: message.app } : {}) });
    });
    bus.onMessage((publication) => this.deliver(publication));
    const routes = [
      ...serverRoutes({ config, registry: deps.registry, health: () => ({ worker: cluster.worker?.id ?? 0, runtime }), readiness: () => this.readiness }),
      ...this.native.routes,
      ...(config.pusherApps.length > 0 ? this.pusher.routes : []),
      ...this.customRoutes(deps.embedding.routes),
    ];
    this.transport = new Transport(
      {
        maxPayload: config.maxPayload,
        idleTimeout: config.idleTimeout,
        maxHttpBody: config.maxHttpBody,
        maxBackpressure: uwsBackpressure,
        resolveAddress: addressResolver(config.trustProxy),
        ...(config.tlsCert && config.tlsKey ? { tls: { certFile: config.tlsCert, keyFile: config.tlsKey, passphrase: config.tlsPassphrase } } : {}),
      },
      {
        handshake: (info) => this.handshake(info),
        allocateFd: () => this.fds.take(),
        open: (connection) => this.onOpen(connection),
        message: (connection, text, isBinary, binary) => {
          this.framesReceived++;
          if (this.locals.has(connection.fd) && this.admitFrame(connection)) this.mountNamed(connection.mount).message(connection, text, isBinary, binary);
        },
        close: (connection, code) => this.onClose(connection, code),
        drain: (connection) => {
          this.slow.drained(connection);
          this.mountNamed(connection.mount).drained?.(connection);
        },
        routes,
        notFound: notFoundFor(routes),
        onError: (error) => log.error({ err: error }, 'request failed'),
      },
    );
  }

  async listen(): Promise<number> {
    const port = await this.transport.listen(this.config.host, this.config.port);
    const report = (): void => {
      this.slow.sweep(this.transport.connections());
      this.native.tick();
      this.pusher.tick();
      const usage: WorkerUsage = {
        rss: process.memoryUsage().rss,
        slowConsumersClosed: this.slow.closed,
        slowConsumersDropping: this.slow.dropping,
        framesReceived: this.framesReceived,
        framesPublished: this.framesPublished,
        ackPending: 0,
        ackGivenUp: 0,
        ackOverflowClosed: 0,
        ipcQueuedBytes: this.link.queuedBytes,
        ipcRefused: this.ipcRefused,
        pusherConnections: 0,
        ...this.native.usage(),
        ...this.pusher.usage(),
      };
      this.link.send({ type: 'usage', usage });
    };
    report();
    setInterval(report, USAGE_INTERVAL_MS).unref();
    return port;
  }

  /**
   * Stops accepting, then tells every socket to go in its protocol's words (native 1001
   * going away or 1012 restart, Pusher 4200) and resolves when all are closed or
   * `timeoutMs` passed.
   */
  async drain(restart: boolean, timeoutMs: number): Promise<void> {
    this.draining = { restart };
    this.transport.stopListening();
    const empty = new Promise<void>((resolve) => (this.onEmpty = resolve));
    for (const connection of [...this.locals.values()]) this.tellToGo(connection);
    if (this.transport.connectionCount === 0) this.onEmpty();
    const deadline = Date.now() + timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([empty, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    this.link.flush();
    // uWS reports a socket closed as soon as it queued the close frame; exiting at once would
    // reset connections whose close frame or close reply is still in flight.
    const linger = Math.min(CLOSE_LINGER_MS, deadline - Date.now());
    if (linger > 0) await new Promise((resolve) => setTimeout(resolve, linger));
  }

  // ---- WorkerServices ----

  connection(fd: number): Connection | undefined {
    return this.locals.get(fd);
  }

  publish(topic: string, frame: string | Uint8Array, options: PublishOptions = {}): boolean {
    if (this.crosses(topic, frame) && !this.admitAcross(options.from, frame.length)) {
      this.ipcRefused++;
      return false;
    }
    this.send(topic, frame, options);
    return true;
  }

  publishAll(items: readonly { topic: string; frame: string; options?: PublishOptions }[]): boolean {
    let bytes = 0;
    for (const item of items) if (this.crosses(item.topic, item.frame)) bytes += item.frame.length;
    if (bytes > 0 && !this.admitAcross(undefined, bytes)) {
      this.ipcRefused++;
      return false;
    }
    for (const item of items) this.send(item.topic, item.frame, item.options);
    return true;
  }

  // ---- internals ----

  /** Whether a frame of `topic` goes to the primary: numbered, or wanted by another worker or node. */
  private crosses(topic: string, frame: string | Uint8Array): boolean {
    // A numbered frame goes to the primary (or Redis) first, and comes back here like everywhere else.
    return (typeof frame === 'string' && isNumbered(this.config.history, topic)) || this.deps.bus.crosses(topic);
  }

  /** Sends an admitted frame: here at once, and across when another worker or node wants it. */
  private send(topic: string, frame: string | Uint8Array, options: PublishOptions = {}): void {
    const { bus } = this.deps;
    const binary = typeof frame !== 'string';
    const numbered = !binary && isNumbered(this.config.history, topic);
    const crosses = numbered || bus.crosses(topic);
    this.framesPublished++;
    if (numbered) {
      bus.publish({ topic, frame, keep: true, ...(options.ackId ? { ackId: options.ackId } : {}), ...(options.except !== undefined ? { except: options.except } : {}) });
      return;
    }
    const except = options.except === undefined ? undefined : this.locals.get(options.except);
    this.transport.publish(topic, frame, except, binary);
    if (crosses) {
      bus.publish({
        topic,
        frame: binary ? Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString('base64') : frame,
        ...(binary ? { binary: true as const } : {}),
        ...(options.ackId ? { ackId: options.ackId } : {}),
        ...(options.except !== undefined && !except ? { except: options.except } : {}),
      });
    }
  }

  /**
   * Whether a frame of `bytes` may cross to the other workers now: always while the way is
   * clear; while it is congested only for senders that sent little across this last second
   * (HTTP publishes, which have no socket, count as heavy); never while it is full.
   */
  private admitAcross(senderFd: number | undefined, bytes: number): boolean {
    const pressure = this.deps.bus.pressure();
    if (pressure === 'full') return false;
    if (senderFd === undefined || !this.locals.has(senderFd)) return pressure === 'clear';
    let crossing = this.crossings.get(senderFd);
    if (!crossing) this.crossings.set(senderFd, (crossing = { bytes: 0, window: 0 }));
    const now = Date.now();
    if (now - crossing.window >= 1000) {
      crossing.window = now;
      crossing.bytes = 0;
    }
    if (pressure === 'congested' && crossing.bytes > this.heavySenderBytes) return false;
    crossing.bytes += bytes;
    return true;
  }

  private mountFor(path: string): { name: string; mount: Mount } {
    if (this.apps.handles(path)) return { name: 'app', mount: this.apps };
    return this.pusher.handles(path) ? { name: 'pusher', mount: this.pusher } : { name: 'native', mount: this.native };
  }

  private mountNamed(name: string): Mount {
    return name === 'app' ? this.apps : name === 'pusher' ? this.pusher : this.native;
  }

  /** The embedder's routes, with what they may do (publish to an app's group). */
  private customRoutes(routes: readonly CustomRoute[]): HttpRoute[] {
    const context: RouteContext = { publish: (appPath, group, data) => this.publish(groupTopic(appPath, group), data) };
    return routes.map((route) => ({ method: route.method.toUpperCase(), path: route.path, handler: (request) => route.handler(request, context) }));
  }

  /**
   * Decides a handshake. Synchronously whenever no step has to wait (the common case: no
   * temporary token, no per-address limit, no asynchronous hook), so that the transport can
   * upgrade inside uWS's own callback; a promise otherwise.
   */
  private handshake(info: HandshakeInfo): HandshakeVerdict | Promise<HandshakeVerdict> {
    const refuse = (status: number, body: string, kind: string, reason: string): HandshakeVerdict => {
      this.refusals.refused(kind, { remoteAddress: info.remoteAddress, status, reason }, 'handshake refused');
      return { accept: false, status, body };
    };
    if (!this.originAllowed(info.headers['origin'])) {
      return refuse(403, JSON.stringify({ error: HttpErrors.originNotAllowed }), 'origin', `origin ${info.headers['origin']?.slice(0, 200)} not allowed`);
    }
    const { name, mount } = this.mountFor(info.path);
    return then(mount.admit(info), (refused) => {
      if (refused) return refuse(refused.status, refused.body, refused.kind, refused.reason);
      const request = { path: info.path, query: info.query, headers: info.headers, remoteAddress: info.remoteAddress, protocol: name };
      return then(this.hooks.handshake(request), (hooked) => {
        if (hooked) return refuse(hooked.status, JSON.stringify(hooked.body ?? { error: 'Refused' }), 'hook', `refused by the handshake hook with ${hooked.status}`);
        return this.admitConnection(info, name, refuse);
      });
    });
  }

  /** The connection limits, once the protocol and the hook admitted a handshake. */
  private admitConnection(info: HandshakeInfo, name: string, refuse: (status: number, body: string, kind: string, reason: string) => HandshakeVerdict): HandshakeVerdict | Promise<HandshakeVerdict> {
    const { config, registry } = this;
    const context = name === 'app' ? { headers: info.headers } : undefined;
    // Counted only now that the protocol admitted it, so unauthenticated handshakes take no one's slot.
    if (this.workerShare > 0 && this.transport.connectionCount + this.admittedUpgrades >= this.workerShare) {
      return refuse(503, JSON.stringify({ error: HttpErrors.tooManyConnections }), 'connections', 'connection limit reached');
    }
    this.admittedUpgrades++;
    let admitted = true;
    const unadmit = (): void => {
      if (admitted) this.admittedUpgrades--;
      admitted = false;
    };
    if (config.maxConnectionsPerIp === 0) return { accept: true, mount: name, context, opened: unadmit, abandoned: unadmit };
    const address = info.remoteAddress;
    return registry.admitAddress(address, config.maxConnectionsPerIp).then((ok): HandshakeVerdict => {
      if (ok) return { accept: true, mount: name, context, opened: unadmit, abandoned: () => (unadmit(), registry.releaseAddress(address)) };
      unadmit();
      return refuse(429, JSON.stringify({ error: HttpErrors.tooManyFromAddress }), 'address', 'connections per address limit reached');
    });
  }

  /** Flood control: true when the frame may be processed. */
  private admitFrame(connection: Connection): boolean {
    const flood = this.floods.get(connection.fd);
    if (!flood) return true;
    switch (flood.check()) {
      case 'accept':
        return true;
      case 'refuse-first':
        this.mountNamed(connection.mount).rateLimited(connection);
        return false;
      case 'refuse':
        return false;
      case 'close':
        this.log.warn({ fd: connection.fd }, 'flooding socket closed');
        connection.end(1008, 'Message rate limit exceeded');
        return false;
    }
  }

  private onOpen(connection: Connection): void {
    const { messageRate, messageBurst } = this.config;
    if (messageRate > 0) this.floods.set(connection.fd, new FloodControl(messageRate, messageBurst || Math.max(1, Math.ceil(messageRate * 2))));
    const mount = this.mountNamed(connection.mount);
    this.locals.set(connection.fd, connection);
    this.log.debug({ fd: connection.fd, remoteAddress: connection.remoteAddress, protocol: connection.mount }, 'connection open');
    mount.open(connection);
    this.hooks.run('connectionOpened', { id: connection.fd, protocol: connection.mount, path: connection.path, remoteAddress: connection.remoteAddress });
    // Native and Pusher sockets read their path, query and address only while opening: every
    // open socket would keep copies of them. The connectionClosed hook reads the path and the
    // address, and a WebSocket app's sockets read all three, so those keep what they read.
    if (connection.mount !== 'app') connection.forgetHandshake(!this.hooks.has('connectionClosed'));
    // A handshake already under way when the listener closed is not refused: the socket opens
    // and is then told to go like every other socket here, so its client reconnects elsewhere.
    if (this.draining) this.tellToGo(connection);
  }

  private tellToGo(connection: Connection): void {
    const { code, reason } = this.mountNamed(connection.mount).drainClose(this.draining?.restart ?? false);
    connection.end(code, reason);
  }

  private onClose(connection: Connection, code: number): void {
    if (this.draining && this.transport.connectionCount === 0) this.onEmpty();
    if (!this.locals.delete(connection.fd)) return;
    this.floods.delete(connection.fd);
    this.crossings.delete(connection.fd);
    this.mountNamed(connection.mount).close(connection, code);
    this.hooks.run('connectionClosed', { id: connection.fd, protocol: connection.mount, path: connection.path, remoteAddress: connection.remoteAddress, code });
    this.log.debug({ fd: connection.fd, code }, 'connection closed');
  }

  /** A publication from another worker: the same bytes, to the local subscribers. */
  private deliver(publication: Publication): void {
    const except = publication.except === undefined ? undefined : this.locals.get(publication.except);
    // A numbered frame goes to the members whose replay is out (historyTopic).
    const topic = publication.seq === undefined ? publication.topic : historyTopic(publication.topic);
    if (publication.binary) this.transport.publish(topic, Buffer.from(publication.frame, 'base64'), except, true);
    else this.transport.publish(topic, publication.frame, except);
    this.native.delivered(publication, topic);
  }
}

/** Applies `next` to a value now, or once it resolves: synchronous code stays synchronous. */
function then<T, R>(value: T | Promise<T>, next: (value: T) => R | Promise<R>): R | Promise<R> {
  return value instanceof Promise ? value.then(next) : next(value);
}
