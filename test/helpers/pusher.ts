import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import WebSocket from 'ws';
import { Inbox } from './inbox.js';
import Echo from 'laravel-echo';
import PusherServer from 'pusher';
import pusherJs, { type Channel } from 'pusher-js';
import { fetchHealth } from './server-health.js';
import type { RunningServer } from './server.js';

// pusher-js is CommonJS: under Node's ESM its default import is the class itself, while its
// types describe a module whose `default` is the class.
type PusherClass = typeof pusherJs.default;
export type Pusher = InstanceType<PusherClass>;
const Pusher = pusherJs as unknown as PusherClass;

export const APP = { id: 'app-1', key: 'app-key', secret: 'app-secret-7f3c' } as const;
export const APP_FLAG = `${APP.id}:${APP.key}:${APP.secret}`;
/** 32 bytes, base64: the master key of encrypted channels, shared by the SDK and nobody else. */
export const MASTER_KEY = Buffer.alloc(32, 7).toString('base64');

/** The `pusher` SDK pointed at a test server, as a Laravel or Node backend would be. */
export function sdkFor(server: RunningServer, app: { id: string; key: string; secret: string } = APP): PusherServer {
  return new PusherServer({ appId: app.id, key: app.key, secret: app.secret, host: '127.0.0.1', port: String(server.port), useTLS: false, encryptionMasterKeyBase64: MASTER_KEY });
}

export interface ClientOptions {
  /** The presence member this client subscribes as (and signs in as). */
  user?: { id: string; info?: Record<string, unknown> };
  app?: { id: string; key: string; secret: string };
}

/** A pusher-js client (its Node build), authorised by the SDK the way a backend's auth endpoint would. */
export function pusherClient(server: RunningServer, options: ClientOptions = {}): Pusher {
  const app = options.app ?? APP;
  const sdk = sdkFor(server, app);
  const user = options.user ?? { id: 'anonymous' };
  return new Pusher(app.key, {
    wsHost: '127.0.0.1',
    wsPort: server.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    cluster: 'test',
    disableStats: true,
    channelAuthorization: {
      endpoint: '/unused',
      transport: 'ajax',
      customHandler: (params, callback) => {
        const data = params.channelName.startsWith('presence-') ? { user_id: user.id, user_info: user.info ?? {} } : undefined;
        callback(null, sdk.authorizeChannel(params.socketId, params.channelName, data));
      },
    },
    userAuthentication: {
      endpoint: '/unused',
      transport: 'ajax',
      customHandler: (params, callback) => callback(null, sdk.authenticateUser(params.socketId, { id: user.id })),
    },
  });
}

/** Resolves once a pusher-js client is connected; fails on an error first. */
export function connected(client: Pusher): Promise<string> {
  return new Promise((resolve, reject) => {
    if (client.connection.state === 'connected') return resolve(client.connection.socket_id);
    client.connection.bind('connected', () => resolve(client.connection.socket_id));
    client.connection.bind('failed', () => reject(new Error('pusher-js connection failed')));
  });
}

/** Subscribes and resolves with the subscription_succeeded data, or rejects with the subscription error. */
export function subscribed(client: Pusher, name: string): Promise<{ channel: Channel; data: unknown }> {
  const channel = client.subscribe(name);
  return new Promise((resolve, reject) => {
    if (channel.subscribed) return resolve({ channel, data: undefined });
    channel.bind('pusher:subscription_succeeded', (data: unknown) => resolve({ channel, data }));
    channel.bind('pusher:subscription_error', (error: unknown) => reject(Object.assign(new Error(`subscription to ${name} failed: ${JSON.stringify(error)}`), { detail: error })));
  });
}

/** Collects a channel's events of one name, and lets a test await the n-th. */
export class EventLog<T = unknown> {
  readonly events: T[] = [];
  private waiters: { count: number; resolve: () => void }[] = [];

  constructor(bind: (handler: (data: T) => void) => void) {
    bind((data) => {
      this.events.push(data);
      this.waiters = this.waiters.filter((w) => (this.events.length >= w.count ? (w.resolve(), false) : true));
    });
  }

  async count(n: number, timeoutMs = 5000): Promise<T[]> {
    if (this.events.length < n) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.waiters.push({ count: n, resolve })),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`only ${this.events.length} of ${n} events within ${timeoutMs} ms: ${JSON.stringify(this.events)}`)), timeoutMs))),
      ]).finally(() => clearTimeout(timer));
    }
    return this.events;
  }
}

/**
 * Connected clients spread so that every worker of the server holds at least one (learned
 * from /health): a client is kept whichever worker it landed on, until each worker has one.
 */
export async function spreadClients(server: RunningServer, workers: number, count: number, make: (i: number) => Pusher, t: { after(fn: () => void): void }): Promise<Pusher[]> {
  const clients: Pusher[] = [];
  t.after(() => clients.forEach((c) => c.disconnect()));
  for (let i = 0; clients.length < count || !(await everyWorkerHolds(server, workers)); i++) {
    assert.ok(i < count + 60, 'the kernel never spread connections over every worker');
    const client = make(i);
    clients.push(client);
    await connected(client);
  }
  return clients;
}

async function everyWorkerHolds(server: RunningServer, workers: number): Promise<boolean> {
  const health = await fetchHealth(server);
  return health.workers.length === workers && health.workers.every((w) => w.connections > 0);
}

/** laravel-echo on a pusher-js client, as a Laravel page sets it up. */
export function echoOn(client: Pusher): Echo<'pusher'> {
  return new Echo({ broadcaster: 'pusher', key: APP.key, client, cluster: 'test' });
}

/** A Pusher connection over a plain WebSocket: raw frames in and out, for exact codes and bad input. */
export class RawPusher {
  private readonly inbox = new Inbox<Record<string, unknown>>((frames) => JSON.stringify(frames).slice(0, 2000));
  readonly frames: Record<string, unknown>[] = this.inbox.items;
  readonly closed: Promise<number>;
  closeCode: number | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      try {
        this.inbox.push(JSON.parse(data.toString()) as Record<string, unknown>);
      } catch {
        this.inbox.push({ unparsed: data.toString() });
      }
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code) => {
        this.closeCode = code;
        this.inbox.end(`closed (${code})`);
        resolve(code);
      }),
    );
    ws.on('error', () => {});
  }

  /** Opens `/app/{key}?{query}` and waits for the socket to open (not for connection_established). */
  static async open(server: RunningServer, key: string = APP.key, query = 'protocol=7&client=js&version=8.6.0'): Promise<RawPusher> {
    const ws = new WebSocket(`${server.url}/app/${key}?${query}`);
    const raw = new RawPusher(ws);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    return raw;
  }

  /** Opens a connection and waits for connection_established; returns it with its socket_id. */
  static async connect(server: RunningServer, key: string = APP.key): Promise<RawPusher & { socketId: string }> {
    const raw = await RawPusher.open(server, key);
    const established = await raw.next((f) => f['event'] === 'pusher:connection_established');
    const { socket_id } = JSON.parse(established['data'] as string) as { socket_id: string };
    return Object.assign(raw, { socketId: socket_id });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The next frame after the last one returned that matches. */
  next(match: (frame: Record<string, unknown>) => boolean = () => true, timeoutMs = 5000): Promise<Record<string, unknown>> {
    return this.inbox.next(match, timeoutMs);
  }

  /** Pings and waits for the pong: everything sent before has been handled. */
  async barrier(): Promise<void> {
    this.send({ event: 'pusher:ping', data: {} });
    await this.next((f) => f['event'] === 'pusher:pong');
  }

  close(): void {
    this.ws.close();
  }
}

/**
 * A cache channel on `server`: its first subscriber gets pusher:cache_miss; once `publish`
 * has sent `event`, a later subscriber gets it right after subscription_succeeded.
 */
export async function assertCacheChannel(server: RunningServer, channel: string, publish: () => Promise<unknown>, event: { event: string; data: string }): Promise<void> {
  const subscribe = async (): Promise<RawPusher> => {
    const raw = await RawPusher.connect(server);
    raw.send({ event: 'pusher:subscribe', data: { channel } });
    await raw.next((f) => f['event'] === 'pusher_internal:subscription_succeeded');
    return raw;
  };
  const first = await subscribe();
  assert.deepEqual(await first.next(), { event: 'pusher:cache_miss', channel, data: '{}' });
  await publish();
  await first.next((f) => f['event'] === event.event);
  const second = await subscribe();
  assert.deepEqual(await second.next(), { event: event.event, channel, data: event.data });
  first.close();
  second.close();
}

/** Signs an HTTP API request the way the SDKs do; returns the path with its query. */
export function signedPath(method: string, path: string, body: string, options: { app?: { key: string; secret: string }; timestamp?: number; params?: Record<string, string>; md5?: string } = {}): string {
  const app = options.app ?? APP;
  const params: Record<string, string> = {
    auth_key: app.key,
    auth_timestamp: String(options.timestamp ?? Math.floor(Date.now() / 1000)),
    auth_version: '1.0',
    ...(body ? { body_md5: options.md5 ?? createHash('md5').update(body).digest('hex') } : {}),
    ...options.params,
  };
  const query = Object.keys(params)
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&');
  const signature = createHmac('sha256', app.secret).update(`${method}\n${path}\n${query}`).digest('hex');
  return `${path}?${query}&auth_signature=${signature}`;
}

/** A channel subscription's auth, as an app's auth endpoint computes it. */
export function channelAuth(socketId: string, channel: string, channelData?: string, app: { key: string; secret: string } = APP): string {
  const data = channelData === undefined ? `${socketId}:${channel}` : `${socketId}:${channel}:${channelData}`;
  return `${app.key}:${createHmac('sha256', app.secret).update(data).digest('hex')}`;
}
