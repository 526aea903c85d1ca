import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, type TestContext } from 'node:test';
import WebSocket from 'ws';
import { FrameClient } from './frame-client.js';
import { startServer, type RunningServer } from './server.js';
import { fetchHealth as health, type HealthReport as Health, type WorkerHealthReport as WorkerHealth } from './server-health.js';

/** A process layout every conformance test runs under. */
export interface Topology {
  readonly label: string;
  readonly workers: number;
  readonly flags: readonly string[];
}

/**
 * The same tests run against one worker and against two, where a sender and its
 * recipients sit on different processes and every frame between them crosses the primary.
 */
export const TOPOLOGIES: readonly Topology[] = [
  { label: '1 worker', workers: 1, flags: ['--workers', '1', '--task-workers', '1'] },
  { label: '2 workers', workers: 2, flags: ['--workers', '2', '--task-workers', '2'] },
];

export { health, type Health, type WorkerHealth };

/**
 * Starts one server for the tests of the enclosing `describe` (started before the first,
 * stopped after the last) and returns its accessor. Tests on it close their own sockets.
 */
export function sharedServer(flags: readonly string[], env: NodeJS.ProcessEnv = {}): () => RunningServer {
  let server: RunningServer | undefined;
  before(async () => {
    server = await startServer([...flags], undefined, env);
  });
  after(async () => {
    if (!server) return;
    // A server that does not drain in time is killed: a hung teardown must not hang the suite.
    const timer = setTimeout(() => server?.process.kill('SIGKILL'), 15_000);
    await server.stop();
    clearTimeout(timer);
  });
  return () => {
    assert.ok(server, 'the shared server did not start');
    return server;
  };
}

let channelCounter = 0;

/** A channel name no other test uses, so a shared server's tests cannot hear each other. */
export function uniqueChannel(prefix = 'room'): string {
  return `${prefix}.${++channelCounter}`;
}

/** The server's envelope, keys in wire order; `fd` and `id` left out when undefined. */
export function envelope(action: string, data: unknown, fd?: number, id?: string): string {
  return JSON.stringify({ action, data, fd, id });
}

/** The `id` a pushed frame carries. */
export function idOf(frame: string): string {
  const { id } = JSON.parse(frame) as { id?: unknown };
  assert.equal(typeof id, 'string', `frame has no string id: ${frame}`);
  return id as string;
}

/** The frames a client received after index `mark` of its list. */
export function framesSince(client: FrameClient, mark: number): string[] {
  return client.frames.slice(mark);
}

/**
 * Opens test clients and learns from GET /health which worker accepted each, so a test can
 * put senders and recipients on different workers on purpose. Closes them after the test.
 */
export class Fleet {
  private readonly open = new Set<FrameClient>();
  private readonly placement = new Map<FrameClient, number>();

  constructor(
    private readonly server: RunningServer,
    private readonly topology: Topology,
    t: TestContext,
  ) {
    t.after(() => this.closeAll());
  }

  /** Worker id of a client this fleet opened. */
  workerOf(client: FrameClient): number {
    const worker = this.placement.get(client);
    assert.ok(worker !== undefined, 'client not opened by this fleet');
    return worker;
  }

  /**
   * Connects one client (`query` is appended to the URL) and finds its worker: the one
   * whose connection count grew while nothing else opened or closed.
   */
  async connect(options: { query?: string; protocol?: string | string[]; acknowledges?: boolean } = {}): Promise<FrameClient> {
    const before = await this.settled();
    const url = options.query ? `${this.server.url}/?${options.query}` : this.server.url;
    const client = await FrameClient.connect(url, options.protocol ?? 'socketconveyor.com', { acknowledges: options.acknowledges ?? false });
    this.open.add(client);
    void client.closed.then(() => this.open.delete(client));
    const afterConnect = await this.settled();
    const grown = afterConnect.workers.filter((w) => w.connections !== (before.workers.find((b) => b.id === w.id)?.connections ?? 0));
    assert.equal(grown.length, 1, `exactly one worker gained the socket: ${JSON.stringify({ before, afterConnect })}`);
    assert.equal(grown[0]!.connections - (before.workers.find((b) => b.id === grown[0]!.id)?.connections ?? 0), 1);
    this.placement.set(client, grown[0]!.id);
    return client;
  }

  /**
   * `count` clients, the i-th on the (i mod workers)-th worker: with two workers, clients
   * 0, 2, 4… share one and 1, 3, 5… the other. Clients that land elsewhere are closed.
   */
  async spread(count: number, options: { acknowledges?: boolean; query?: string } = {}): Promise<FrameClient[]> {
    const ids = (await this.settled()).workers.map((w) => w.id).sort((a, b) => a - b);
    assert.equal(ids.length, this.topology.workers);
    const wanted = Array.from({ length: count }, (_, i) => ids[i % ids.length]!);
    const placed: (FrameClient | undefined)[] = new Array<FrameClient | undefined>(count).fill(undefined);
    const spare: FrameClient[] = [];
    for (let attempt = 0; placed.includes(undefined); attempt++) {
      assert.ok(attempt < 40 + count * 20, 'the kernel never spread connections over every worker');
      const client = await this.connect(options);
      const slot = wanted.findIndex((worker, i) => placed[i] === undefined && worker === this.workerOf(client));
      if (slot >= 0) placed[slot] = client;
      else spare.push(client);
    }
    await Promise.all(spare.map((c) => this.close(c)));
    const clients = placed as FrameClient[];
    // Every worker now holds its share of the sockets, as /health reports them.
    const settled = await this.settled();
    for (const id of ids) {
      const expected = [...this.open].filter((c) => this.workerOf(c) === id).length;
      if (count >= ids.length) assert.ok(clients.some((c) => this.workerOf(c) === id), `worker ${id} got none of the clients`);
      assert.equal(settled.workers.find((w) => w.id === id)?.connections, expected, `worker ${id} holds ${expected} sockets`);
    }
    return clients;
  }

  /** Closes a client and waits until the server has counted it out. */
  async close(client: FrameClient): Promise<void> {
    client.close();
    await client.closed;
    await this.settled();
  }

  /** Closes every open client of this fleet. */
  async closeAll(): Promise<void> {
    const open = [...this.open];
    open.forEach((c) => c.close());
    await Promise.all(open.map((c) => c.closed));
  }

  /**
   * /health once the server counts exactly this fleet's open sockets: opens and closes
   * reach the primary's registry asynchronously, and that has no event a test can await.
   */
  async settled(): Promise<Health> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const h = await health(this.server);
      if (h.connections === this.open.size && h.workers.length === this.topology.workers) return h;
      assert.ok(Date.now() < deadline, `the server never counted ${this.open.size} sockets: ${JSON.stringify(h)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

export interface HttpAnswer {
  status: number;
  contentType: string | undefined;
  text: string;
}

/**
 * HTTP over one kept-alive connection: every request reaches the same worker, so a test
 * knows where a token was minted or in which order two publications left.
 */
export class PinnedHttp {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  private requests = 0;

  private readonly baseUrl: string;
  private readonly healthPath: string;

  constructor(server: RunningServer) {
    this.baseUrl = server.httpUrl;
    this.healthPath = server.healthPath;
  }

  request(method: string, path: string, body?: unknown): Promise<HttpAnswer> {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const first = this.requests++ === 0;
    return new Promise((resolve, reject) => {
      const req = http.request(`${this.baseUrl}${path}`, { method, agent: this.agent }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          if (!first && !req.reusedSocket) reject(new Error('the pinned HTTP connection was not kept alive'));
          else resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], text });
        });
      });
      req.on('error', reject);
      req.end(payload);
    });
  }

  async json(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const answer = await this.request(method, path, body);
    assert.equal(answer.contentType, 'application/json', `${method} ${path} answered ${answer.status} ${answer.text}`);
    return { status: answer.status, body: JSON.parse(answer.text) as unknown };
  }

  /** The worker that serves this connection. */
  async worker(): Promise<number> {
    const { body } = await this.json('GET', this.healthPath);
    return (body as Health).worker;
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * Attempts a handshake that should be refused; resolves with its HTTP status and body, or
 * with 101 (and the socket closed) when the server accepted it.
 */
export function attemptHandshake(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'socketconveyor.com', { headers });
    ws.once('open', () => {
      ws.once('close', () => resolve({ status: 101, body: '' }));
      ws.close();
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', (error) => {
      if (!ws.listenerCount('unexpected-response')) reject(error);
    });
  });
}

/**
 * Resolves with the matching frame number `occurrence` (0: the first) at index `from` or
 * later of `client.frames`.
 * Unlike `FrameClient.next` it keeps no cursor, so several waits on one client may run at once.
 */
export function awaitFrame(client: FrameClient, match: (frame: string) => boolean, from = 0, occurrence = 0, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const found = (): string | undefined => client.frames.slice(from).filter(match)[occurrence];
    const early = found();
    if (early !== undefined) return resolve(early);
    const finish = (error?: Error): void => {
      clearTimeout(timer);
      client.ws.off('message', onMessage);
      client.ws.off('close', onClose);
      if (error) reject(error);
    };
    const onMessage = (): void => {
      const frame = found();
      if (frame !== undefined) {
        finish();
        resolve(frame);
      }
    };
    const onClose = (): void => finish(new Error(`fd ${client.fd} closed while waiting; received:\n${client.frames.slice(from).join('\n')}`));
    const timer = setTimeout(() => finish(new Error(`fd ${client.fd}: no matching frame within ${timeoutMs} ms; received:\n${client.frames.slice(from).join('\n')}`)), timeoutMs);
    // Registered after the client's own listener, so the frame is already in `frames`.
    client.ws.on('message', onMessage);
    client.ws.on('close', onClose);
  });
}
