import { randomInt } from 'node:crypto';
import { AppDirectory } from '../apps/apps.js';
import type { Publication } from '../ipc/messages.js';
import { channelType } from '../channel-types.js';
import { PusherCloseCodes, errorFrame, pusherFrame } from '../protocol/pusher/frames.js';
import { pusherApiRoutes } from '../protocol/pusher/http-api.js';
import { PusherProtocol, socketIdOf, type PusherHub, type PusherSession } from '../protocol/pusher/protocol.js';
import type { PresenceMember, PusherJoinResult } from '../registry/engine.js';
import type { HandshakeInfo } from '../transport/app.js';
import type { Connection } from '../transport/connection.js';
import type { HttpRoute } from '../http/routes.js';
import type { Mount, WorkerServices } from './mount.js';

/** The path prefix of Pusher connections: `/app/{key}`. */
export const PUSHER_PATH = /^\/app\/([^/?]+)\/?$/;
/** Longest wait for a pong after the server's own pusher:ping. */
const PONG_TIMEOUT_MS = 30_000;

/** A connection's Pusher session and what the mount adds to it, in one object per socket. */
interface PusherSocket extends PusherSession {
  readonly connection: Connection;
  /**
   * Milliseconds since the mount started (see PusherMount.now): small integers, which V8
   * keeps in the object, where Date.now() would take a heap number per socket.
   */
  lastSeen: number;
  /** When the server sent its pusher:ping, if it waits for an answer. */
  pingedAt: number | undefined;
}

/**
 * The Pusher protocol as the worker mounts it on `/app/{key}`: connections, keep-alive,
 * and the PusherHub over the shell's topics and the registry. Its HTTP API lives under
 * `/apps/{id}/`.
 */
export class PusherMount implements Mount, PusherHub {
  readonly routes: HttpRoute[];
  private readonly apps: AppDirectory;
  private readonly protocol: PusherProtocol;
  private readonly sockets = new Map<number, PusherSocket>();
  /** Signed-in connections of this worker per app and user, for terminate_connections. */
  private readonly users = new Map<string, Set<number>>();
  /** Seconds of silence after which a client should ping (sent in connection_established). */
  readonly activityTimeout: number;
  private readonly pongTimeoutMs: number;
  private readonly epoch = Date.now();

  constructor(private readonly services: WorkerServices) {
    const { config, log, link } = services;
    this.apps = new AppDirectory(config.pusherApps);
    this.protocol = new PusherProtocol(this, log, config.maxJsonDepth);
    // Half the idle timeout, so that a client's ping, or the server's and its answer, come
    // before uWS would close the socket as idle.
    this.activityTimeout = config.idleTimeout > 0 ? Math.max(2, Math.floor(config.idleTimeout / 2)) : 120;
    this.pongTimeoutMs = Math.min(PONG_TIMEOUT_MS, (this.activityTimeout * 1000) / 2);
    this.routes = pusherApiRoutes({ apps: this.apps, registry: services.registry, publishAll: (items) => services.publishAll(items), log });
    link.on('pusher-terminate', (message) => this.terminate(message.app, message.userId));
  }

  /** True when this server has Pusher apps and `path` is a Pusher connection path. */
  handles(path: string): boolean {
    return this.apps.size > 0 && PUSHER_PATH.test(path);
  }

  // ---- Mount ----

  admit(_info: HandshakeInfo): undefined {
    // Pusher refuses over the socket (pusher:error, then a close code pusher-js acts on), not with an HTTP status.
    return undefined;
  }

  open(connection: Connection): void {
    const { registry, config } = this.services;
    const address = config.maxConnectionsPerIp > 0 ? connection.remoteAddress : undefined;
    const key = decodeURIComponent(PUSHER_PATH.exec(connection.path)?.[1] ?? '');
    const app = this.apps.byKey(key);
    // The registry hears of every socket once: refused ones too, as the close that follows is.
    let opened = false;
    const refuse = (code: number, message: string): void => {
      if (!opened) registry.open(connection.fd, address, false);
      opened = true;
      connection.send(errorFrame(code, message));
      connection.end(code, message.slice(0, 120));
    };
    if (!app) return refuse(PusherCloseCodes.unknownApp, `App key ${key.slice(0, 64)} does not exist`);
    if (!app.enabled) return refuse(PusherCloseCodes.appDisabled, 'App is disabled');
    const protocol = connection.query.get('protocol');
    if (protocol === null || protocol === '') return refuse(PusherCloseCodes.noProtocol, 'No protocol version given: connect with ?protocol=7');
    if (!/^\d+$/.test(protocol) || Number(protocol) < 5 || Number(protocol) > 7) return refuse(PusherCloseCodes.unsupportedProtocol, `Unsupported protocol version ${protocol.slice(0, 16)}: use 7`);
    const socket: PusherSocket = {
      fd: connection.fd,
      // randomInt answers a heap number: `| 0` makes it a small integer, kept in the object itself.
      socketSecret: randomInt(1, 1_000_000_000) | 0,
      app,
      channels: undefined,
      joining: undefined,
      user: undefined,
      clientEvents: undefined,
      connection,
      lastSeen: this.now(),
      pingedAt: undefined,
    };
    const established = (): void => {
      this.sockets.set(connection.fd, socket);
      connection.send(pusherFrame('pusher:connection_established', JSON.stringify({ socket_id: socketIdOf(socket), activity_timeout: this.activityTimeout })));
    };
    opened = true;
    // Without a quota nothing waits on the primary: the one open message counts the socket for its app.
    if (app.maxConnections === 0) {
      registry.open(connection.fd, address, false, app.id);
      return established();
    }
    registry.open(connection.fd, address, false);
    registry.pusherOpen(connection.fd, app.id, app.maxConnections).then(
      (ok) => {
        if (connection.closed) return;
        if (ok) established();
        else refuse(PusherCloseCodes.overQuota, `The app is at its connection quota (${app.maxConnections})`);
      },
      (error: unknown) => {
        this.services.log.error({ err: error, fd: connection.fd }, 'pusher connection admission failed');
        refuse(PusherCloseCodes.overCapacity, 'The server could not admit the connection; reconnect later');
      },
    );
  }

  message(connection: Connection, text: string, isBinary: boolean): void {
    const socket = this.sockets.get(connection.fd);
    if (!socket || isBinary) return;
    socket.lastSeen = this.now();
    socket.pingedAt = undefined;
    this.protocol.message(socket, text);
  }

  close(connection: Connection): void {
    const socket = this.sockets.get(connection.fd);
    this.services.registry.close(connection.fd);
    if (!socket) return;
    this.sockets.delete(connection.fd);
    const session = socket;
    if (session.user !== undefined) this.forgetUser(session.app.id, session.user, session.fd);
    for (const channel of session.channels?.keys() ?? []) this.services.hooks.run('channelLeft', { id: session.fd, channel, protocol: 'pusher', app: session.app.id });
    this.protocol.closed(session);
  }

  rateLimited(connection: Connection): void {
    connection.send(errorFrame(PusherCloseCodes.clientEventRate, `Too many frames: this server accepts ${this.services.config.messageRate} per second from one connection`));
  }

  drainClose(): { code: number; reason: string } {
    // pusher-js reconnects at once on 4200, to another worker or node.
    return { code: PusherCloseCodes.reconnect, reason: 'Server restarting: reconnect' };
  }

  delivered(_publication: Publication): void {}

  usage(): Record<string, number> {
    return { pusherConnections: this.sockets.size };
  }


  // ---- PusherHub ----

  send(session: PusherSession, frame: string): void {
    this.sockets.get(session.fd)?.connection.send(frame);
  }

  disconnect(session: PusherSession, code: number, reason: string): void {
    this.sockets.get(session.fd)?.connection.end(code, reason);
  }

  subscribe(session: PusherSession, topic: string): void {
    this.sockets.get(session.fd)?.connection.subscribe(topic);
  }

  unsubscribe(session: PusherSession, topic: string): void {
    this.sockets.get(session.fd)?.connection.unsubscribe(topic);
  }

  publish(session: PusherSession, topic: string, frame: string): boolean {
    return this.services.publish(topic, frame, { except: session.fd, from: session.fd });
  }

  async join(session: PusherSession, channel: string, member: PresenceMember | undefined): Promise<PusherJoinResult> {
    const result = await this.services.registry.pusherJoin(session.fd, channel, member, session.app.maxPresenceMembers);
    if (result.ok) this.services.hooks.run('channelJoined', { id: session.fd, channel, protocol: 'pusher', app: session.app.id });
    return result;
  }

  async leave(session: PusherSession, channel: string): Promise<void> {
    await this.services.registry.pusherLeave(session.fd, channel);
    this.services.hooks.run('channelLeft', { id: session.fd, channel, protocol: 'pusher', app: session.app.id });
  }

  async signin(session: PusherSession, userId: string): Promise<void> {
    const key = `${session.app.id}\n${userId}`;
    let fds = this.users.get(key);
    if (!fds) this.users.set(key, (fds = new Set()));
    fds.add(session.fd);
    await this.services.registry.pusherSignin(session.fd, userId);
  }

  remember(session: PusherSession, channel: string, frame: string): void {
    // A client event's sender waits for nothing: the channel keeps it as soon as the primary reads it.
    void this.services.registry.pusherRemember(session.app.id, channel, frame).catch(() => {});
  }

  clientEventHook(session: PusherSession, channel: string, event: string, data: unknown, userId: string | undefined): void {
    if (channelType(channel).cache) this.remember(session, channel, JSON.stringify({ event, channel, data }));
    if (!session.app.webhooks.some((hook) => !hook.events || hook.events.includes('client_event'))) return;
    this.services.link.send({ type: 'pusher-client-event', app: session.app.id, channel, event, data, socketId: socketIdOf(session), ...(userId !== undefined ? { userId } : {}) });
  }

  // ---- internals ----

  /** Pings connections that were silent for activity_timeout; closes those that never answered. */
  tick(): void {
    const now = this.now();
    for (const socket of this.sockets.values()) {
      if (socket.pingedAt !== undefined) {
        if (now - socket.pingedAt >= this.pongTimeoutMs) socket.connection.end(PusherCloseCodes.pongTimeout, 'Pong reply not received');
      } else if (now - socket.lastSeen >= this.activityTimeout * 1000) {
        socket.pingedAt = now;
        socket.connection.send(pusherFrame('pusher:ping', '{}'));
      }
    }
  }

  /**
   * Milliseconds since this mount started. A difference of two Date.now() values is a heap
   * number even when small; Math.floor gives back a small integer (for 24 days, and a heap
   * number beyond, which is still right).
   */
  private now(): number {
    return Math.floor(Date.now() - this.epoch);
  }

  private terminate(appId: string, userId: string): void {
    for (const fd of this.users.get(`${appId}\n${userId}`) ?? []) {
      const socket = this.sockets.get(fd);
      if (!socket) continue;
      socket.connection.send(errorFrame(PusherCloseCodes.unauthorized, 'Connection terminated by the server'));
      socket.connection.end(PusherCloseCodes.unauthorized, 'Connection terminated');
    }
  }

  private forgetUser(appId: string, userId: string, fd: number): void {
    const key = `${appId}\n${userId}`;
    const fds = this.users.get(key);
    fds?.delete(fd);
    if (fds?.size === 0) this.users.delete(key);
  }
}
