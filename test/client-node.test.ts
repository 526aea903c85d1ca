import assert from 'node:assert/strict';
import { test } from 'node:test';
import type WebSocket from 'ws';
import Conveyor, { type Presence } from '../src/client/node.js';
import { FrameClient } from './helpers/frame-client.js';
import { startServer, type RunningServer } from './helpers/server.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Resolves with the arguments of the next `event` of a client. */
function nextEvent<A extends unknown[]>(client: Conveyor, event: 'message' | 'presence' | 'reconnecting' | 'error' | 'close' | 'ready' | 'dropped'): Promise<A> {
  return new Promise((resolve) => {
    const off = client.on(event, ((...args: A) => {
      off();
      resolve(args);
    }) as never);
  });
}

function clientFor(server: RunningServer, options: ConstructorParameters<typeof Conveyor>[0], t: { after(fn: () => void): void }): Conveyor {
  const client = new Conveyor({ port: server.port, ...options });
  t.after(() => client.close());
  return client;
}

async function joinedPeer(server: RunningServer, channel: string, t: { after(fn: () => void): void }): Promise<FrameClient> {
  const peer = await FrameClient.connect(server.url);
  t.after(() => peer.close());
  peer.send({ action: 'channel-connect', channel });
  await peer.barrier();
  return peer;
}

test('drop-in options: on open it associates the user, then joins with the token as auth, then calls onReady; callbacks see frames', async (t) => {
  const server = await startServer(['--presence', '--token', 's3cret'], t);
  const printed: string[] = [];
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    const original = console[method];
    console[method] = (...args: unknown[]) => void printed.push(args.map(String).join(' '));
    t.after(() => (console[method] = original));
  }
  const calls: string[] = [];
  const raw: string[] = [];
  const messages: [unknown, number | undefined][] = [];
  const ready = deferred();
  const client = clientFor(server, {
    token: 's3cret',
    channel: 'chat.room.1',
    userId: 42,
    onOpen: () => calls.push('open'),
    onReady: () => {
      calls.push('ready');
      ready.resolve();
    },
    onMessage: (data, fd) => messages.push([data, fd]),
    onRawMessage: (text) => raw.push(text),
  }, t);
  await ready.promise;
  assert.deepEqual(calls, ['open', 'ready']);
  // The server's presence frame proves the order: the user id was known when the socket joined.
  const presence = (await nextEvent<[Presence]>(client, 'presence'))[0];
  assert.deepEqual(presence, { kind: 'join', fd: client.fd, channel: 'chat.room.1', fds: [client.fd], userIds: { [String(client.fd)]: 42 } });

  const peer = await FrameClient.connect(`${server.url}/?token=s3cret`);
  t.after(() => peer.close());
  peer.send({ action: 'channel-connect', channel: 'chat.room.1', auth: 's3cret' });
  await peer.barrier();
  peer.send({ action: 'broadcast-action', data: 'hello from the peer' });
  const [data, fd] = await nextEvent<[unknown, number | undefined]>(client, 'message');
  assert.deepEqual([data, fd], ['hello from the peer', peer.fd]);
  assert.deepEqual(messages.at(-1), ['hello from the peer', peer.fd]);
  assert.equal(raw.at(-1), JSON.stringify({ action: 'broadcast-action', data: 'hello from the peer', fd: peer.fd }));

  client.send('echo me');
  assert.deepEqual(await nextEvent(client, 'message'), ['echo me', client.fd, { action: 'base-action', data: 'echo me', fd: client.fd }]);
  assert.ok(!printed.some((line) => line.includes('s3cret')), 'the token is never printed');
});

test('join() resolves once the server has handled it, and rejects with the server words when it refuses', async (t) => {
  const server = await startServer(['--token', 'server-token'], t);
  const minted = (await (await fetch(`${server.httpUrl}/conveyor/auth?token=server-token`, { method: 'POST', body: '{"channel":"orders.1"}' })).json()) as { auth: string };
  const client = clientFor(server, { token: minted.auth }, t);
  await client.connected();
  await assert.rejects(client.join('orders.2'), { message: 'Failed to connect to channel' });
  const good = clientFor(server, { token: 'server-token' }, t);
  await good.join('orders.1');
  const peer = await FrameClient.connect(`${server.url}/?token=server-token`);
  t.after(() => peer.close());
  peer.send({ action: 'channel-connect', channel: 'orders.1', auth: 'server-token' });
  await peer.barrier();
  good.send('after the join', 'broadcast-action');
  assert.deepEqual(JSON.parse(await peer.next((f) => f.includes('after the join'))), { action: 'broadcast-action', data: 'after the join', fd: good.fd });
});

test('after the server is killed and restarted on the same port, the client reconnects, re-joins, re-associates, and gets the next broadcast', async (t) => {
  const first = await startServer(['--presence'], t);
  const client = clientFor(first, { channel: 'room', userId: 'ada', reconnect: true, reconnectDelay: 50, reconnectDelayMax: 200 }, t);
  await client.connected();
  const firstFd = client.fd;
  const reconnecting = nextEvent<[number, number]>(client, 'reconnecting');
  await first.stop('SIGKILL');
  const [attempt, delay] = await reconnecting;
  assert.equal(attempt, 1);
  assert.ok(delay >= 0 && delay <= 50, `first delay ${delay} within the base`);

  const second = await startServer(['--presence', '--port', String(first.port)], t);
  const presence = (await nextEvent<[Presence]>(client, 'presence'))[0];
  assert.equal(presence.channel, 'room');
  assert.deepEqual(presence.userIds, { [String(client.fd)]: 'ada' });
  assert.notEqual(client.fd, undefined);
  assert.ok(firstFd !== undefined);
  const peer = await joinedPeer(second, 'room', t);
  peer.send({ action: 'broadcast-action', data: 'welcome back' });
  assert.deepEqual((await nextEvent(client, 'message')).slice(0, 2), ['welcome back', peer.fd]);
});

test('frames sent while disconnected are queued, bounded, and flushed in order after the reconnect and the re-join', async (t) => {
  const first = await startServer([], t);
  const peerReady = deferred();
  const client = clientFor(first, {
    channel: 'queue',
    reconnect: true,
    reconnectDelay: 20,
    queueLimit: 3,
    queueOverflow: 'drop-oldest',
    // The hook runs before each reconnect: here it holds the client back until the peer listens.
    refreshToken: async () => {
      await peerReady.promise;
      return '';
    },
  }, t);
  await client.connected();
  const closed = nextEvent(client, 'close');
  await first.stop('SIGKILL');
  await closed;
  const dropped: string[] = [];
  client.on('dropped', (frame) => dropped.push(frame));
  for (let i = 1; i <= 5; i++) client.send(`queued ${i}`, 'broadcast-action');
  assert.deepEqual(dropped.map((f) => (JSON.parse(f) as { data: string }).data), ['queued 1', 'queued 2']);

  const second = await startServer(['--port', String(first.port)], t);
  const peer = await joinedPeer(second, 'queue', t);
  peerReady.resolve();
  for (const expected of ['queued 3', 'queued 4', 'queued 5']) {
    const frame = JSON.parse(await peer.next((f) => f.includes('"broadcast-action"'))) as { data: string };
    assert.equal(frame.data, expected);
  }
});

test('frames the server re-sends because the acknowledgment came late reach the app once, and every copy is acknowledged', async (t) => {
  const server = await startServer(['--ack', '--ack-timeout', '0.05', '--ack-attempts', '3'], t);
  const client = clientFor(server, { channel: 'acked' }, t);
  await client.connected();
  const peer = await joinedPeer(server, 'acked', t);
  const seen: unknown[] = [];
  client.on('message', (data) => seen.push(data));
  // Stop reading so that the acknowledgment cannot go out before the server's timer re-sends.
  const socket = (client as unknown as { socket: WebSocket }).socket;
  const stream = (socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  stream.pause();
  peer.send({ action: 'broadcast-action', data: 'exactly once' });
  await server.waitForLog((l) => l['msg'] === 'acknowledgment given up');
  stream.resume();
  peer.send({ action: 'broadcast-action', data: 'and then this' });
  await nextEvent(client, 'message').then(async ([data]) => (data === 'and then this' ? undefined : nextEvent(client, 'message')));
  assert.deepEqual(seen, ['exactly once', 'and then this']);
});

test('the client acknowledges with `acknowledge` on: sent frames get an id, and the server acknowledgment clears it', async (t) => {
  const server = await startServer([], t);
  const client = clientFor(server, { acknowledge: true }, t);
  await client.connected();
  const acknowledged = new Promise<string>((resolve) => client.on('acknowledged', resolve));
  const id = client.send('with an id');
  assert.equal(typeof id, 'string');
  assert.equal(client.isPending(id!), true);
  assert.equal(await acknowledged, id);
  assert.equal(client.isPending(id!), false);
});

test('a refused handshake is not retried forever: no reconnect without a refreshToken hook, and the error says why', async (t) => {
  const server = await startServer(['--token', 'right'], t);
  const reconnects: number[] = [];
  const client = clientFor(server, { token: 'spent-temporary-token', reconnect: true, reconnectDelay: 10 }, t);
  client.on('reconnecting', (n) => reconnects.push(n));
  const [error] = await nextEvent<[Error]>(client, 'error');
  assert.equal(error.message, 'Unexpected server response: 401: the server refused the token; not reconnecting (give refreshToken to fetch a new one)');
  await assert.rejects(client.connected(), /the server refused the token/);
  assert.deepEqual(reconnects, []);
});

test('custom headers and query reach the handshake (Node)', async (t) => {
  const server = await startServer(['--token', 'q-token', '--allowed-origins', 'https://app.example.com'], t);
  const allowed = clientFor(server, { query: '?token=q-token', headers: { origin: 'https://app.example.com' } }, t);
  await allowed.connected();
  const refused = clientFor(server, { query: { token: 'q-token' }, headers: { origin: 'https://elsewhere.example.com' } }, t);
  const [error] = await nextEvent<[Error]>(refused, 'error');
  assert.match(error.message, /^Unexpected server response: 403/);
});

test('a link that stops answering pings is detected by the heartbeat and the client reconnects', async (t) => {
  const server = await startServer([], t);
  const client = clientFor(server, { heartBeatInterval: 100, pongTimeout: 300, reconnect: true, reconnectDelay: 20 }, t);
  await client.connected();
  const health = (await (await fetch(`${server.httpUrl}/health`)).json()) as { workers: { pid: number }[] };
  const worker = health.workers[0]!.pid;
  // A stopped process keeps its sockets open but answers nothing: a silently dead link.
  process.kill(worker, 'SIGSTOP');
  t.after(() => process.kill(worker, 'SIGCONT'));
  const [code] = await nextEvent<[number]>(client, 'close');
  assert.equal(code, 1006);
  process.kill(worker, 'SIGCONT');
  await nextEvent(client, 'ready');
  assert.equal(client.isClosed(), false);
});

test('close() stops the client for good: no reconnect', async (t) => {
  const server = await startServer([], t);
  const client = clientFor(server, { reconnect: true, reconnectDelay: 10 }, t);
  await client.connected();
  const reconnects: number[] = [];
  client.on('reconnecting', (n) => reconnects.push(n));
  const closed = nextEvent(client, 'close');
  client.close();
  await closed;
  // A new connection to the server proves time passed with the event loop turning.
  const other = clientFor(server, {}, t);
  await other.connected();
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(reconnects, []);
  assert.equal(client.isClosed(), true);
});
