import type { AppContext, AppSocket, WebSocketApp } from '../embed/types.js';
import type { Publication } from '../ipc/messages.js';
import type { HandshakeInfo } from '../transport/app.js';
import type { Connection } from '../transport/connection.js';
import type { HttpRoute } from '../http/routes.js';
import type { Mount, WorkerServices } from './mount.js';
import { RefusalLog } from './refusal-log.js';
import { groupTopic, splitGroupTopic } from '../topics.js';


/** What the handshake keeps for an app socket: only app sockets pay for their headers. */
export interface AppHandshake {
  headers: Record<string, string>;
}

class Socket implements AppSocket {
  readonly groups = new Set<string>();

  constructor(
    private readonly mount: AppMount,
    readonly connection: Connection,
    readonly app: WebSocketApp,
    readonly headers: Readonly<Record<string, string>>,
  ) {}

  get id(): number {
    return this.connection.fd;
  }
  get path(): string {
    return this.connection.path;
  }
  get query(): URLSearchParams {
    return this.connection.query;
  }
  get remoteAddress(): string {
    return this.connection.remoteAddress;
  }

  send(data: string | Uint8Array): boolean {
    return this.connection.send(data, typeof data !== 'string');
  }

  close(code = 1000, reason = ''): void {
    this.connection.end(code, reason);
  }

  join(group: string): Promise<boolean> {
    return this.mount.join(this, group);
  }

  leave(group: string): Promise<void> {
    return this.mount.leave(this, group);
  }

  broadcast(group: string, data: string | Uint8Array): boolean {
    return this.mount.publish(this.app, group, data, this);
  }
}

/** Groups one socket of a WebSocket app may be in at once. */
export const MAX_GROUPS_PER_SOCKET = 1000;
/** Bytes of a group's name. */
export const MAX_GROUP_NAME_BYTES = 200;

/**
 * The WebSocket apps given to createServer(), mounted on their paths: plain messages, no
 * envelope, and groups that span workers (uWS topics, crossing like any other topic).
 * Callbacks run guarded: one that throws is logged and its socket closed with 1011.
 */
export class AppMount implements Mount {
  readonly routes: HttpRoute[] = [];
  private readonly byPath = new Map<string, WebSocketApp>();
  private readonly sockets = new Map<number, Socket>();
  private readonly contexts = new Map<WebSocketApp, AppContext>();
  private readonly refusals: RefusalLog;

  constructor(
    private readonly services: WorkerServices,
    apps: readonly WebSocketApp[],
  ) {
    this.refusals = new RefusalLog(services.log);
    for (const app of apps) {
      if (this.byPath.has(app.path)) throw new Error(`two WebSocket apps share the path ${app.path}; give each its own`);
      this.byPath.set(app.path, app);
      this.contexts.set(app, { publish: (group, data) => this.publish(app, group, data) });
    }
  }

  /** A group of some app got its first member or lost its last, anywhere: this worker runs the app's hook. */
  groupHook(hook: 'groupCreated' | 'groupDestroyed', topic: string): void {
    const [path, group] = splitGroupTopic(topic);
    const app = this.byPath.get(path);
    if (app) this.guard(undefined, hook, () => app[hook]?.(group, this.contexts.get(app)!));
  }

  handles(path: string): boolean {
    return this.byPath.has(path);
  }

  /** Publishes to a group of `app` on every worker; `from` (a member) is left out. */
  publish(app: WebSocketApp, group: string, data: string | Uint8Array, from?: Socket): boolean {
    return this.services.publish(groupTopic(app.path, group), data, from ? { except: from.id, from: from.id } : {});
  }

  async join(socket: Socket, group: string): Promise<boolean> {
    if (socket.groups.has(group)) return true;
    if (socket.connection.closed) return false;
    // Each group a socket is in is held on its worker and in the primary: one socket must not hold gigabytes.
    if (socket.groups.size >= MAX_GROUPS_PER_SOCKET || Buffer.byteLength(group) > MAX_GROUP_NAME_BYTES) {
      this.refusals.refused('group-join', { fd: socket.id, path: socket.path, groups: socket.groups.size, nameBytes: Buffer.byteLength(group) }, `join refused: a socket may be in at most ${MAX_GROUPS_PER_SOCKET} groups, each named in at most ${MAX_GROUP_NAME_BYTES} bytes`);
      return false;
    }
    socket.groups.add(group);
    socket.connection.subscribe(groupTopic(socket.app.path, group));
    await this.services.registry.groupJoin(socket.id, groupTopic(socket.app.path, group));
    this.guard(socket, 'memberJoined', () => socket.app.memberJoined?.(socket, group, this.contexts.get(socket.app)!));
    return true;
  }

  async leave(socket: Socket, group: string): Promise<void> {
    if (!socket.groups.delete(group)) return;
    socket.connection.unsubscribe(groupTopic(socket.app.path, group));
    await this.services.registry.groupLeave(socket.id, groupTopic(socket.app.path, group));
    this.guard(socket, 'memberLeft', () => socket.app.memberLeft?.(socket, group, this.contexts.get(socket.app)!));
  }

  // ---- Mount ----

  admit(_info: HandshakeInfo): undefined {
    return undefined;
  }

  open(connection: Connection): void {
    const app = this.byPath.get(connection.path);
    if (!app) return connection.end(1011, 'No app on this path');
    const headers = (connection.context as AppHandshake | undefined)?.headers ?? {};
    const socket = new Socket(this, connection, app, headers);
    this.sockets.set(connection.fd, socket);
    const { registry, config } = this.services;
    registry.open(connection.fd, config.maxConnectionsPerIp > 0 ? connection.remoteAddress : undefined, false);
    this.guard(socket, 'open', () => app.open?.(socket, this.contexts.get(app)!));
  }

  message(connection: Connection, text: string, isBinary: boolean, binary?: Buffer): void {
    const socket = this.sockets.get(connection.fd);
    if (!socket) return;
    this.guard(socket, 'message', () => socket.app.message?.(socket, isBinary ? (binary ?? Buffer.alloc(0)) : text, isBinary, this.contexts.get(socket.app)!));
  }

  close(connection: Connection, code: number): void {
    const socket = this.sockets.get(connection.fd);
    this.services.registry.close(connection.fd);
    if (!socket) return;
    this.sockets.delete(connection.fd);
    const app = this.contexts.get(socket.app)!;
    for (const group of socket.groups) this.guard(undefined, 'memberLeft', () => socket.app.memberLeft?.(socket, group, app));
    this.guard(undefined, 'close', () => socket.app.close?.(socket, code, app));
  }

  rateLimited(): void {
    // An app has no error frame of its own: the frame is dropped, and a socket that keeps on is closed with 1008.
  }

  drainClose(restart: boolean): { code: number; reason: string } {
    return restart ? { code: 1012, reason: 'Server restarting' } : { code: 1001, reason: 'Server shutting down' };
  }

  delivered(_publication: Publication): void {}

  tick(): void {}

  usage(): Record<string, number> {
    return {};
  }

  /** Runs an app callback: a throw (or a rejected promise) is logged, and its socket closed with 1011. */
  private guard(socket: Socket | undefined, what: string, run: () => unknown): void {
    const failed = (error: unknown): void => {
      this.services.log.error({ err: error, fd: socket?.id, path: socket?.path, callback: what }, 'WebSocket app callback failed');
      if (socket && !socket.connection.closed) socket.close(1011, 'Internal error');
    };
    try {
      const result = run();
      if (result instanceof Promise) result.catch(failed);
    } catch (error) {
      failed(error);
    }
  }
}
