import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type WebSocket from 'ws';
import Conveyor, { type ConveyorEvents, type Presence } from '../src/client/node.js';
import { FrameClient } from './helpers/frame-client.js';
import { startServer, type RunningServer } from './helpers/server.js';

function nextEvent<K extends keyof ConveyorEvents>(client: Conveyor, event: K): Promise<Parameters<ConveyorEvents[K]>> {
  return new Promise((resolve) => client.once(event, ((...args: Parameters<ConveyorEvents[K]>) => resolve(args)) as ConveyorEvents[K]));
}

/** The next presence change that `match` accepts. */
function presence(client: Conveyor, match: (p: Presence) => boolean): Promise<Presence> {
  return new Promise((resolve) => {
    const off = client.on('presence', (p) => {
      if (!match(p)) return;
      off();
      resolve(p);
    });
  });
}

function clientFor(server: RunningServer, options: ConstructorParameters<typeof Conveyor>[0], t: TestContext): Conveyor {
  const client = new Conveyor({ port: server.port, ...options });
  t.after(() => client.close());
  return client;
}

async function joinedPeer(server: RunningServer, channel: string, t: TestContext): Promise<FrameClient> {
  const peer = await FrameClient.connect(server.url);
  t.after(() => peer.close());
  peer.send({ action: 'channel-connect', channel });
  await peer.barrier();
  return peer;
}

test('code written for the published client runs unchanged: callbacks, send, rawSend, connectChannel(), assocUser, isClosed', async (t) => {
  const server = await startServer(['--presence'], t);
  const received: unknown[] = [];
  const closes: string[] = [];
  let welcomed!: () => void;
  const welcome = new Promise<void>((resolve) => (welcomed = resolve));
  // The published README's example, with the port of this server.
  const connection = new Conveyor({
    port: server.port,
    channel: 'actions-channel',
    onMessage: (e: unknown) => {
      received.push(e);
      if (e === 'Welcome!') welcomed();
    },
    onReady: () => {
      connection.send('Welcome!');
    },
    onClose: () => closes.push('onClose'),
    onCloseCallback: () => closes.push('onCloseCallback'),
  });
  t.after(() => connection.close());
  await welcome;
  assert.equal(connection.isClosed(), false);
  const fd = connection.fd!;
  assert.deepEqual(received, [
    JSON.stringify({ fd, event: 'connection-info' }),
    JSON.stringify({ fd, event: 'channel-presence', channel: 'actions-channel', fds: [fd], userIds: {} }),
    'Welcome!',
  ]);

  // Plain text is a base-action for the server, which echoes it.
  const echo = nextEvent(connection, 'message');
  connection.rawSend('plain text');
  assert.deepEqual((await echo).slice(0, 2), ['plain text', fd]);

  connection.assocUser(7);
  const rejoined = presence(connection, (p) => p.fd === fd);
  connection.connectChannel();
  assert.deepEqual(await rejoined, { kind: 'join', fd, channel: 'actions-channel', count: 1, fds: [fd], userIds: { [String(fd)]: 7 } });

  const closed = nextEvent(connection, 'close');
  connection.close();
  assert.deepEqual(await closed, [1000, '']);
  assert.equal(connection.isClosed(), true);
  assert.deepEqual(closes, ['onClose', 'onCloseCallback']);
});

test('after the server is killed and restarted on the same port, the client reconnects, re-joins, re-associates, and gets the next broadcast', async (t) => {
  // With --ack: a restarted server numbers its frame ids from the start again, and the
  // client must not take the new frames for re-sends of the old ones.
  const first = await startServer(['--presence', '--ack'], t);
  const client = clientFor(first, { channel: 'room', userId: 'ada', reconnect: true, reconnectDelay: 50, reconnectDelayMax: 200 }, t);
  await client.connected();
  const reconnecting = nextEvent(client, 'reconnecting');
  await first.stop('SIGKILL');
  const [attempt, delay] = await reconnecting;
  assert.equal(attempt, 1);
  assert.ok(delay >= 0 && delay < 50, `first delay ${delay} within the base`);

  const rejoined = presence(client, (p) => p.fd === client.fd);
  const second = await startServer(['--presence', '--ack', '--port', String(first.port)], t);
  const joined = await rejoined;
  assert.deepEqual(joined, { kind: 'join', fd: client.fd, channel: 'room', count: 1, fds: [client.fd], userIds: { [String(client.fd)]: 'ada' } });
  const peer = await joinedPeer(second, 'room', t);
  peer.send({ action: 'broadcast-action', data: 'welcome back' });
  const [data, fd, frame] = await nextEvent(client, 'message');
  assert.deepEqual([data, fd], ['welcome back', peer.fd]);
  assert.deepEqual(frame, { action: 'broadcast-action', data: 'welcome back', fd: peer.fd, id: frame.id });
});

test('join(), leave() and presence: members and user ids as they come and go; a refused join rejects with the server words and keeps the channel', async (t) => {
  const server = await startServer(['--presence'], t);
  const ada = clientFor(server, { userId: 'ada', channel: 'room' }, t);
  const adaAlone = presence(ada, () => true);
  await ada.connected();
  const a = (await adaAlone).fd;
  assert.equal(a, ada.fd);

  const bob = clientFor(server, { userId: 'bob' }, t);
  await bob.connected();
  const b = bob.fd!;
  const bobJoins = presence(ada, (p) => p.fd === b);
  await bob.join('room');
  assert.deepEqual(await bobJoins, { kind: 'join', fd: b, channel: 'room', count: 2, fds: [a, b], userIds: { [String(a)]: 'ada', [String(b)]: 'bob' } });

  await assert.rejects(bob.join('x'.repeat(201)), { message: 'Channel name is 201 characters long; the limit is 200.' });
  assert.equal(bob.options.channel, 'room');
  bob.send('still in room', 'broadcast-action');
  assert.deepEqual((await nextEvent(ada, 'message')).slice(0, 2), ['still in room', b]);

  const bobLeaves = presence(ada, (p) => p.kind === 'leave');
  bob.leave();
  assert.deepEqual(await bobLeaves, { kind: 'leave', fd: b, channel: 'room', count: 1, fds: [a], userIds: { [String(a)]: 'ada' } });
  assert.equal(bob.options.channel, null);
});

test('tokens: join() rejects when the server refuses the auth; a refused join on open is reported as an error', async (t) => {
  const server = await startServer(['--token', 'server-token'], t);
  const mint = async (channel: string | null): Promise<string> =>
    ((await (await fetch(`${server.httpUrl}/conveyor/auth?token=server-token`, { method: 'POST', body: JSON.stringify({ channel }) })).json()) as { auth: string }).auth;

  const forOrders1 = clientFor(server, { token: await mint('orders.1') }, t);
  await forOrders1.connected();
  await assert.rejects(forOrders1.join('orders.2'), { message: 'Failed to connect to channel' });

  // A token minted for no channel admits one handshake, and no channel.
  const refused = clientFor(server, { token: await mint(null), channel: 'orders.1' }, t);
  const [error] = await nextEvent(refused, 'error');
  assert.equal(error.message, 'joining orders.1 was refused: Failed to connect to channel');

  const good = clientFor(server, { token: 'server-token' }, t);
  await good.join('orders.1');
  const peer = await FrameClient.connect(`${server.url}/?token=server-token`);
  t.after(() => peer.close());
  peer.send({ action: 'channel-connect', channel: 'orders.1', auth: 'server-token' });
  await peer.barrier();
  good.send('after the join', 'broadcast-action');
  assert.deepEqual(JSON.parse(await peer.next((f) => f.includes('after the join'))), { action: 'broadcast-action', data: 'after the join', fd: good.fd });
});

test('Node: custom headers and query reach the handshake; binaryType is set on the socket', async (t) => {
  const server = await startServer(['--token', 'q-token', '--allowed-origins', 'https://app.example.com'], t);
  const allowed = clientFor(server, { query: '?token=q-token', headers: { origin: 'https://app.example.com' }, binaryType: 'nodebuffer' }, t);
  await allowed.connected();
  assert.equal((allowed as unknown as { socket: WebSocket }).socket.binaryType, 'nodebuffer');
  const refused = clientFor(server, { query: { token: 'q-token' }, headers: { origin: 'https://elsewhere.example.com' } }, t);
  const [error] = await nextEvent(refused, 'error');
  assert.equal(error.message, 'Unexpected server response: 403');
});

test('reconnect delays back off exponentially with full jitter under the cap, and the client gives up after maxReconnectAttempts', async (t) => {
  const server = await startServer([], t);
  const client = clientFor(server, { reconnect: true, reconnectDelay: 10, reconnectDelayMax: 40, maxReconnectAttempts: 4 }, t);
  await client.connected();
  const attempts: [number, number][] = [];
  client.on('reconnecting', (attempt, delay) => attempts.push([attempt, delay]));
  const gaveUp = new Promise<Error>((resolve) => client.on('error', (error) => error.message.startsWith('gave up') && resolve(error)));
  await server.stop();
  assert.equal((await gaveUp).message, 'gave up reconnecting after 4 attempts');
  assert.deepEqual(attempts.map(([attempt]) => attempt), [1, 2, 3, 4]);
  attempts.forEach(([, delay], i) => assert.ok(delay >= 0 && delay < [10, 20, 40, 40][i]!, `delay ${delay} of attempt ${i + 1}`));
  await assert.rejects(client.connected(), { message: 'gave up reconnecting after 4 attempts' });
});

test('with reconnect off, a lost connection stops the client: connected() rejects and sends are dropped', async (t) => {
  const server = await startServer([], t);
  const client = clientFor(server, {}, t);
  await client.connected();
  const closed = nextEvent(client, 'close');
  await server.stop('SIGKILL');
  assert.equal((await closed)[0], 1006);
  await assert.rejects(client.connected(), { message: 'connection closed (1006) and reconnect is off' });
  const dropped = nextEvent(client, 'dropped');
  client.send('into the void');
  assert.deepEqual(await dropped, ['{"action":"base-action","data":"into the void"}']);
});

test('close() stops the client for good: no reconnect, connected() rejects; listeners can be removed', async (t) => {
  const server = await startServer([], t);
  const client = clientFor(server, { reconnect: true, reconnectDelay: 10 }, t);
  await client.connected();
  const reconnects: number[] = [];
  client.on('reconnecting', (n) => reconnects.push(n));
  const opens: string[] = [];
  const off = client.on('open', () => opens.push('open'));
  off();
  const closed = nextEvent(client, 'close');
  client.close();
  await closed;
  await assert.rejects(client.connected(), { message: 'client closed' });
  // Another client connecting proves time passed with the event loop turning.
  const other = clientFor(server, {}, t);
  await other.connected();
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(reconnects, []);
  assert.deepEqual(opens, []);
  assert.equal(client.isClosed(), true);
});
