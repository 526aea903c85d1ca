// The client seen from the wire: a TCP proxy between it and a real server records every
// frame in both directions and can hold, cut or silently drop the link.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import WebSocket from 'ws';
import { browserPlatform, HEARTBEAT_FRAME, type WebSocketConstructor } from '../src/client/browser-platform.js';
import { ConveyorClient } from '../src/client/conveyor.js';
import { nodePlatform } from '../src/client/node-platform.js';
import type { Platform } from '../src/client/platform.js';
import type { ConveyorEvents, ConveyorOptions } from '../src/client/types.js';
import { FrameClient } from './helpers/frame-client.js';
import { startServer, type RunningServer } from './helpers/server.js';

interface WireFrame {
  /** Which TCP connection through the proxy carried it, in order of arrival. */
  link: number;
  opcode: number;
  payload: Buffer;
  text: string;
}

/** Items that arrive over time; a test awaits the first (past or future) that matches. */
class Recorder<T> {
  readonly items: T[] = [];
  private readonly events = new EventEmitter();

  push(item: T): void {
    this.items.push(item);
    this.events.emit('item', item);
  }

  /** Resolves with the first item that matches; the timeout only turns a hang into a readable failure. */
  waitFor(match: (item: T) => boolean, what: string, timeoutMs = 15_000): Promise<T> {
    const seen = this.items.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.events.off('item', onItem);
        reject(new Error(`waited ${timeoutMs} ms for ${what}`));
      }, timeoutMs);
      const onItem = (item: T): void => {
        if (!match(item)) return;
        clearTimeout(timer);
        this.events.off('item', onItem);
        resolve(item);
      };
      this.events.on('item', onItem);
    });
  }
}

/** Splits one direction of a WebSocket connection into its HTTP head and its frames. */
class FrameReader {
  private buffer = Buffer.alloc(0);
  private inHead = true;

  constructor(
    private readonly onHead: (head: string) => void,
    private readonly onFrame: (opcode: number, payload: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    if (this.inHead) {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      this.onHead(this.buffer.subarray(0, end).toString('latin1'));
      this.buffer = this.buffer.subarray(end + 4);
      this.inHead = false;
    }
    for (;;) {
      if (this.buffer.length < 2) return;
      const opcode = this.buffer[0]! & 0x0f;
      const masked = (this.buffer[1]! & 0x80) !== 0;
      let length = this.buffer[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (this.buffer.length < 4) return;
        length = this.buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (this.buffer.length < 10) return;
        length = Number(this.buffer.readBigUInt64BE(2));
        offset = 10;
      }
      const maskAt = offset;
      if (masked) offset += 4;
      if (this.buffer.length < offset + length) return;
      const payload = Buffer.from(this.buffer.subarray(offset, offset + length));
      if (masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= this.buffer[maskAt + (i & 3)]!;
      this.buffer = this.buffer.subarray(offset + length);
      this.onFrame(opcode, payload);
    }
  }
}

interface Link {
  client: Socket;
  upstream: Socket;
  /** Client bytes kept back while the proxy holds the client's direction. */
  held: Buffer[];
  blackholed: boolean;
}

/** A TCP proxy in front of a server's port that records and disturbs the links through it. */
class WireProxy {
  /** Client → server frames. */
  readonly up = new Recorder<WireFrame>();
  /** Server → client frames. */
  readonly down = new Recorder<WireFrame>();
  /** The request line and headers of every handshake. */
  readonly handshakes = new Recorder<string>();
  readonly links: Link[] = [];
  /** While set, new TCP connections are closed at once (the server looks down). */
  refusing = false;
  private holding = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly targetPort: number,
  ) {}

  static async start(targetPort: number, t: TestContext): Promise<WireProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new WireProxy(server, (server.address() as { port: number }).port, targetPort);
    server.on('connection', (client) => proxy.accept(client));
    t.after(() => proxy.close());
    return proxy;
  }

  /** The text frames the client sent on `link`, in order. */
  textsUp(link: number): string[] {
    return this.up.items.filter((f) => f.link === link && f.opcode === 0x1).map((f) => f.text);
  }

  /** Keeps the client's bytes from the server until release(); the server's still flow. */
  hold(): void {
    this.holding = true;
  }

  release(): void {
    this.holding = false;
    for (const link of this.links) for (const chunk of link.held.splice(0)) link.upstream.write(chunk);
  }

  /** Ends every current link abruptly, as a network failure does. */
  cut(): void {
    for (const link of this.links) {
      link.client.destroy();
      link.upstream.destroy();
    }
  }

  /** Current links stay open but carry nothing more either way: a silently dead link. */
  blackhole(): void {
    for (const link of this.links) link.blackholed = true;
  }

  private accept(client: Socket): void {
    client.on('error', () => {});
    if (this.refusing) return void client.destroy();
    const upstream = connect({ host: '127.0.0.1', port: this.targetPort });
    upstream.on('error', () => {});
    const link: Link = { client, upstream, held: [], blackholed: false };
    const index = this.links.push(link) - 1;
    const frame = (opcode: number, payload: Buffer): WireFrame => ({ link: index, opcode, payload, text: opcode === 0x1 ? payload.toString('utf8') : '' });
    const upReader = new FrameReader((head) => this.handshakes.push(head), (op, payload) => this.up.push(frame(op, payload)));
    const downReader = new FrameReader(() => {}, (op, payload) => this.down.push(frame(op, payload)));
    client.on('data', (chunk: Buffer) => {
      if (link.blackholed) return;
      upReader.push(chunk);
      if (this.holding) link.held.push(chunk);
      else upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (link.blackholed) return;
      downReader.push(chunk);
      client.write(chunk);
    });
    // end(), not destroy(): what the server wrote last (a refusal, a close frame) must still arrive.
    client.on('close', () => upstream.end());
    upstream.on('close', () => {
      if (!link.blackholed) client.end();
    });
  }

  private async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Counts the heartbeats a platform runs, to see that reconnects do not leave old ones behind. */
function countingHeartbeats(platform: Platform): { platform: Platform; active: () => number } {
  let active = 0;
  return {
    active: () => active,
    platform: {
      ...platform,
      heartbeat(socket, intervalMs, pongTimeoutMs, dead) {
        active++;
        const stop = platform.heartbeat(socket, intervalMs, pongTimeoutMs, dead);
        let stopped = false;
        return () => {
          if (!stopped) active--;
          stopped = true;
          stop();
        };
      },
    },
  };
}

const wsBrowserPlatform = browserPlatform(WebSocket as unknown as WebSocketConstructor);

function clientThrough(proxy: WireProxy, options: Partial<ConveyorOptions>, t: TestContext, platform: Platform = nodePlatform): ConveyorClient {
  const client = new ConveyorClient({ port: proxy.port, ...options }, platform);
  t.after(() => client.close());
  return client;
}

function nextEvent<K extends keyof ConveyorEvents>(client: ConveyorClient, event: K): Promise<Parameters<ConveyorEvents[K]>> {
  return new Promise((resolve) => client.once(event, ((...args: Parameters<ConveyorEvents[K]>) => resolve(args)) as ConveyorEvents[K]));
}

async function joinedPeer(server: RunningServer, channel: string, t: TestContext, auth?: string): Promise<FrameClient> {
  const peer = await FrameClient.connect(auth ? `${server.url}/?token=${auth}` : server.url);
  t.after(() => peer.close());
  peer.send(auth ? { action: 'channel-connect', channel, auth } : { action: 'channel-connect', channel });
  await peer.barrier();
  return peer;
}

async function mintToken(server: RunningServer, serverToken: string, channel: string): Promise<string> {
  const response = await fetch(`${server.httpUrl}/conveyor/auth?token=${serverToken}`, { method: 'POST', body: JSON.stringify({ channel }) });
  return ((await response.json()) as { auth: string }).auth;
}

test('on open it sends what the published client sent: assoc-user-to-fd-action, then channel-connect with the token as auth, then onReady; the token rides in the query and is never printed', async (t) => {
  const server = await startServer(['--token', 's3cret'], t);
  const proxy = await WireProxy.start(server.port, t);
  const printed: string[] = [];
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    const original = console[method];
    console[method] = (...args: unknown[]) => void printed.push(args.map(String).join(' '));
    t.after(() => (console[method] = original));
  }
  const calls: string[] = [];
  const messages: [unknown, number | undefined][] = [];
  const client = clientThrough(proxy, {
    token: 's3cret',
    query: '?room=7',
    channel: 'chat.room.1',
    userId: 42,
    onOpen: () => calls.push('open'),
    onReady: () => {
      calls.push('ready');
      client.send('hello');
    },
    onMessage: (data, fd) => messages.push([data, fd]),
  }, t);
  const echoed = nextEvent(client, 'message');
  await proxy.up.waitFor((f) => f.text.includes('hello'), 'the frame sent in onReady');
  assert.deepEqual(calls, ['open', 'ready']);
  assert.match(proxy.handshakes.items[0]!, /^GET \/\?room=7&token=s3cret HTTP\/1\.1\r\n/);
  assert.deepEqual(proxy.textsUp(0), [
    '{"action":"assoc-user-to-fd-action","userId":42}',
    '{"action":"channel-connect","channel":"chat.room.1","auth":"s3cret"}',
    '{"action":"base-action","data":"hello"}',
  ]);
  const [echo, echoFd] = await echoed;
  assert.deepEqual([echo, echoFd], ['hello', client.fd]);
  // As before, onMessage sees connection-info too: its data is the server's JSON string.
  assert.deepEqual(messages, [
    [JSON.stringify({ fd: client.fd, event: 'connection-info' }), undefined],
    ['hello', client.fd],
  ]);
  assert.ok(!printed.some((line) => line.includes('s3cret')), 'the token is never printed');
});

test('with `acknowledge` on, sent frames carry an id, and the server answer marks them acknowledged', async (t) => {
  const server = await startServer([], t);
  const proxy = await WireProxy.start(server.port, t);
  const client = clientThrough(proxy, { acknowledge: true }, t);
  await client.connected();
  const acknowledged = nextEvent(client, 'acknowledged');
  const id = client.send('with an id', 'base-action');
  assert.equal(typeof id, 'string');
  assert.equal(client.isPending(id!), true);
  assert.deepEqual(await acknowledged, [id]);
  assert.equal(client.isPending(id!), false);
  assert.deepEqual(proxy.textsUp(0), [JSON.stringify({ action: 'base-action', data: 'with an id', id })]);
  assert.deepEqual(
    proxy.down.items.filter((f) => f.text.includes('acknowledge-action')).map((f) => f.text),
    [JSON.stringify({ action: 'acknowledge-action', data: id })],
  );
});

test('a frame the server re-sends because the acknowledgment did not reach it reaches the app once, and every copy is acknowledged', async (t) => {
  const server = await startServer(['--ack', '--ack-timeout', '0.05', '--ack-attempts', '3'], t);
  const proxy = await WireProxy.start(server.port, t);
  const client = clientThrough(proxy, { channel: 'acked' }, t);
  await client.connected();
  const peer = await joinedPeer(server, 'acked', t);
  const seen: unknown[] = [];
  client.on('message', (data) => seen.push(data));

  proxy.hold();
  peer.send({ action: 'broadcast-action', data: 'exactly once' });
  const copiesOf = (): WireFrame[] => proxy.down.items.filter((f) => f.text.includes('exactly once'));
  await proxy.down.waitFor(() => copiesOf().length >= 4, 'the frame and its 3 re-sends');
  await server.waitForLog((l) => l['msg'] === 'acknowledgment given up');
  const copies = copiesOf();
  assert.equal(copies.length, 4, 'the frame and its 3 re-sends, no more');
  const id = (JSON.parse(copies[0]!.text) as { id: string }).id;
  assert.ok(copies.every((f) => f.text === copies[0]!.text), 'same frame, same id');
  await proxy.up.waitFor(() => proxy.textsUp(0).filter((text) => text.includes(id)).length === 4, 'an acknowledgment per copy');
  proxy.release();
  assert.deepEqual(
    proxy.textsUp(0).filter((text) => text.includes(id)),
    Array(4).fill(JSON.stringify({ action: 'acknowledge-action', data: id })),
  );

  peer.send({ action: 'broadcast-action', data: 'and then this' });
  while (seen.length < 2) await nextEvent(client, 'message');
  assert.deepEqual(seen, ['exactly once', 'and then this']);
});

test('Node heartbeat: a link that silently stops carrying anything is noticed by the missing pong; the client drops it and reconnects', async (t) => {
  const server = await startServer([], t);
  const proxy = await WireProxy.start(server.port, t);
  const client = clientThrough(proxy, { channel: 'pings', heartBeatInterval: 100, pongTimeout: 300, reconnect: true, reconnectDelay: 20 }, t);
  await client.connected();
  await proxy.up.waitFor((f) => f.link === 0 && f.opcode === 0x9, 'a WebSocket ping');
  await proxy.down.waitFor((f) => f.link === 0 && f.opcode === 0xa, 'its pong');
  const closed = nextEvent(client, 'close');
  proxy.blackhole();
  assert.deepEqual(await closed, [1006, 'heartbeat lost']);
  await nextEvent(client, 'ready');
  const peer = await joinedPeer(server, 'pings', t);
  peer.send({ action: 'broadcast-action', data: 'over the new link' });
  assert.deepEqual((await nextEvent(client, 'message')).slice(0, 2), ['over the new link', peer.fd]);
  assert.equal(proxy.links.length, 2);
});

for (const [name, platform, beat] of [
  ['Node (WebSocket pings)', nodePlatform, (f: WireFrame) => f.opcode === 0x9],
  ['browser (the binary heartbeat frame)', wsBrowserPlatform, (f: WireFrame) => f.opcode === 0x2 && f.payload.equals(HEARTBEAT_FRAME)],
] as const) {
  test(`${name}: one heartbeat per connection, however many reconnects came before; none after close()`, async (t) => {
    const server = await startServer([], t);
    const proxy = await WireProxy.start(server.port, t);
    const counted = countingHeartbeats(platform);
    const client = clientThrough(proxy, { heartBeatInterval: 50, reconnect: true, reconnectDelay: 10, reconnectDelayMax: 40 }, t, counted.platform);
    await client.connected();
    for (let link = 0; link < 4; link++) {
      await proxy.up.waitFor((f) => f.link === link && beat(f), `a heartbeat on link ${link}`);
      assert.equal(counted.active(), 1);
      if (link === 3) break;
      const ready = nextEvent(client, 'ready');
      proxy.cut();
      await ready;
    }
    const closed = nextEvent(client, 'close');
    client.close();
    await closed;
    assert.equal(counted.active(), 0);
  });
}

test('frames sent while disconnected are queued, bounded, and flushed in order after the reconnect and the re-join', async (t) => {
  const server = await startServer([], t);
  const proxy = await WireProxy.start(server.port, t);
  const client = clientThrough(proxy, { channel: 'queue', reconnect: true, reconnectDelay: 20, reconnectDelayMax: 100, queueLimit: 3, queueOverflow: 'drop-oldest' }, t);
  await client.connected();
  const closed = nextEvent(client, 'close');
  proxy.refusing = true;
  proxy.cut();
  await closed;
  const dropped: string[] = [];
  client.on('dropped', (frame) => dropped.push(frame));
  for (let i = 1; i <= 5; i++) client.send(`queued ${i}`, 'broadcast-action');
  assert.deepEqual(dropped, ['{"action":"broadcast-action","data":"queued 1"}', '{"action":"broadcast-action","data":"queued 2"}']);

  const peer = await joinedPeer(server, 'queue', t);
  const ready = nextEvent(client, 'ready');
  proxy.refusing = false;
  await ready;
  for (const expected of ['queued 3', 'queued 4', 'queued 5']) {
    const frame = JSON.parse(await peer.next((f) => f.includes('"broadcast-action"'))) as { data: string; fd: number };
    assert.deepEqual(frame, { action: 'broadcast-action', data: expected, fd: client.fd });
  }
  const link = proxy.links.length - 1;
  assert.deepEqual(proxy.textsUp(link), [
    '{"action":"channel-connect","channel":"queue","auth":null}',
    '{"action":"broadcast-action","data":"queued 3"}',
    '{"action":"broadcast-action","data":"queued 4"}',
    '{"action":"broadcast-action","data":"queued 5"}',
  ]);
});

test('temporary tokens: refreshToken fetches a fresh one before each reconnect, and the client re-joins with it', async (t) => {
  const server = await startServer(['--token', 'server-token'], t);
  const proxy = await WireProxy.start(server.port, t);
  const minted: string[] = [await mintToken(server, 'server-token', 'orders.1')];
  const client = clientThrough(proxy, {
    token: minted[0],
    channel: 'orders.1',
    reconnect: true,
    reconnectDelay: 20,
    refreshToken: async () => {
      minted.push(await mintToken(server, 'server-token', 'orders.1'));
      return minted.at(-1)!;
    },
  }, t);
  await client.connected();
  const ready = nextEvent(client, 'ready');
  proxy.cut();
  await ready;
  assert.equal(minted.length, 2);
  assert.notEqual(minted[1], minted[0]);
  assert.match(proxy.handshakes.items[1]!, new RegExp(`^GET /\\?token=${minted[1]} `));
  const peer = await joinedPeer(server, 'orders.1', t, 'server-token');
  peer.send({ action: 'broadcast-action', data: 'to the re-joined client' });
  assert.deepEqual((await nextEvent(client, 'message')).slice(0, 2), ['to the re-joined client', peer.fd]);
  assert.deepEqual(proxy.textsUp(1)[0], JSON.stringify({ action: 'channel-connect', channel: 'orders.1', auth: minted[1] }));
});

for (const [name, platform, why] of [
  ['Node', nodePlatform, 'the server refused the handshake with HTTP 401'],
  ['browser', wsBrowserPlatform, 'the server is up but refused the WebSocket handshake'],
] as const) {
  test(`${name}: a spent temporary token is not retried forever; the error says why`, async (t) => {
    const server = await startServer(['--token', 'server-token'], t);
    const proxy = await WireProxy.start(server.port, t);
    const token = await mintToken(server, 'server-token', 'orders.1');
    const client = clientThrough(proxy, { token, channel: 'orders.1', reconnect: true, reconnectDelay: 10 }, t, platform);
    // The echo comes after the server handled the join, which spent the token.
    const echoed = nextEvent(client, 'message');
    client.send('joined by now');
    await echoed;
    const errors: string[] = [];
    client.on('error', (error) => errors.push(error.message));
    const reconnects: number[] = [];
    client.on('reconnecting', (attempt) => reconnects.push(attempt));
    proxy.cut();
    await assert.rejects(
      new Promise((_resolve, reject) => client.on('error', (error) => error.message.includes('not reconnecting') && reject(error))),
      { message: `${why}; not reconnecting (a spent temporary token? give refreshToken to fetch a new one)` },
    );
    await assert.rejects(client.connected(), /not reconnecting/);
    assert.deepEqual(reconnects, [1]);
    assert.equal(proxy.handshakes.items.filter((head) => /^upgrade: websocket$/im.test(head)).length, 2, 'the first handshake and one retry');
    let sentLater = false;
    client.on('dropped', () => (sentLater = true));
    client.send('after it stopped');
    assert.equal(sentLater, true, 'a stopped client drops what it is given');
  });
}

test('browser: a handshake that fails because the server is down is retried, token or not', async (t) => {
  const server = await startServer([], t);
  const proxy = await WireProxy.start(server.port, t);
  const client = clientThrough(proxy, { token: 'some-token', reconnect: true, reconnectDelay: 10, reconnectDelayMax: 20 }, t, wsBrowserPlatform);
  await client.connected();
  const third = new Promise<void>((resolve) => client.on('reconnecting', (attempt) => attempt === 3 && resolve()));
  await server.stop();
  proxy.cut();
  await third;
  assert.equal(client.isClosed(), true);
});
