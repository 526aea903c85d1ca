import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import WebSocket from 'ws';
import { BroadcastScript } from './helpers/broadcast-script.js';
import { Fleet, attemptHandshake, awaitFrame, envelope, idOf, uniqueChannel, type Topology } from './helpers/conformance.js';
import { FrameClient } from './helpers/frame-client.js';
import { startRedis, type RunningRedis } from './helpers/redis.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { DEFAULT_OPTIONS } from '../src/bench/bench-options.js';
import { runBench } from '../src/bench/run-bench.js';

const TOKEN = 'srv-token-nodes-3b9e41';
const TWO_WORKERS: Topology = { label: '2 workers', workers: 2, flags: [] };

interface NodeHealth {
  node: string;
  nodes: number;
  redis: string;
  connections: number;
  workers: { id: number; pid: number }[];
}

async function healthOf(server: RunningServer): Promise<NodeHealth> {
  const response = await fetch(`${server.httpUrl}${server.healthPath}`);
  assert.equal(response.status, 200);
  return (await response.json()) as NodeHealth;
}

/** Two nodes on one Redis, started for the tests of the enclosing describe. */
function twoNodes(flags: string[]): { redis: () => RunningRedis; a: () => RunningServer; b: () => RunningServer } {
  let redis: RunningRedis | undefined;
  let a: RunningServer | undefined;
  let b: RunningServer | undefined;
  before(async () => {
    redis = await startRedis();
    [a, b] = await Promise.all([startServer([...flags, '--redis', redis.url]), startServer([...flags, '--redis', redis.url])]);
  });
  after(async () => {
    for (const server of [a, b]) {
      if (!server) continue;
      const timer = setTimeout(() => server.process.kill('SIGKILL'), 15_000);
      await server.stop();
      clearTimeout(timer);
    }
    await redis?.stop();
  });
  return { redis: () => redis!, a: () => a!, b: () => b! };
}

/** Two clients on each node, one per worker: a1, a2 on node A, b1, b2 on node B. */
async function fourClients(t: TestContext, a: RunningServer, b: RunningServer, options: { acknowledges?: boolean; query?: string } = {}): Promise<FrameClient[]> {
  const onA = await new Fleet(a, TWO_WORKERS, t).spread(2, options);
  const onB = await new Fleet(b, TWO_WORKERS, t).spread(2, options);
  return [...onA, ...onB];
}

describe('two nodes over one Redis, two workers each: the native protocol', () => {
  const { a, b, redis } = twoNodes(['--workers', '2', '--task-workers', '1', '--presence', '--token', TOKEN]);
  const withToken = { query: `token=${TOKEN}` };

  test('/health names this node, counts both nodes and says Redis is up; /metrics says the same', async () => {
    // Each node counts the live ones at its heartbeat, every 2 s.
    let [ha, hb] = await Promise.all([healthOf(a()), healthOf(b())]);
    for (let i = 0; i < 50 && (ha.nodes !== 2 || hb.nodes !== 2); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      [ha, hb] = await Promise.all([healthOf(a()), healthOf(b())]);
    }
    assert.match(ha.node, /^[0-9a-f]{8}$/);
    assert.notEqual(ha.node, hb.node);
    assert.equal(ha.nodes, 2);
    assert.equal(hb.nodes, 2);
    assert.equal(ha.redis, 'up');
    const metrics = await (await fetch(`${a().httpUrl}/metrics?token=${TOKEN}`)).text();
    assert.match(metrics, /^conveyor_redis_up 1$/m);
    assert.match(metrics, /^conveyor_nodes 2$/m);
  });

  test('broadcasts, channel-less broadcasts, fanouts and presence with fds and user ids of both nodes', async (t) => {
    const [a1, a2, b1, b2] = (await fourClients(t, a(), b(), withToken)) as [FrameClient, FrameClient, FrameClient, FrameClient];
    const script = new BroadcastScript([a1, a2, b1, b2], { presence: { maxMembers: 1000 }, fanoutFields: { auth: TOKEN } });
    const room = uniqueChannel('nodes');
    await script.assoc(a1, 'alice');
    await script.assoc(b2, 42);
    // Channel-less sockets hear each other's broadcasts, whichever node holds them.
    await script.broadcast(a1, 'lobby from A');
    await script.broadcast(b1, 'lobby from B');
    const auth = { auth: TOKEN };
    await script.join(a1, room, auth);
    await script.join(b1, room, auth);
    await script.join(b2, room, auth);
    await script.join(a2, room, auth);
    await script.broadcast(b2, 'room from B');
    await script.broadcast(a2, 'room from A');
    await script.leave(b1);
    await script.broadcast(a1, 'after B left');
    await script.broadcast(b1, 'B alone in the lobby');
    await script.close(a2);
    await script.broadcast(b2, 'after A closed');
    script.verify();
  });

  test('a temporary token minted on one node admits the handshake on the other, and a channel token is spent there', async (t) => {
    const mint = async (server: RunningServer, body: unknown): Promise<string> => {
      const response = await fetch(`${server.httpUrl}/conveyor/auth?token=${TOKEN}`, { method: 'POST', body: JSON.stringify(body) });
      assert.equal(response.status, 200);
      return ((await response.json()) as { auth: string }).auth;
    };
    const once = await mint(a(), {});
    const client = await FrameClient.connect(`${b().url}/?token=${once}`);
    t.after(() => client.close());
    assert.equal((await attemptHandshake(`${a().url}/?token=${once}`)).status, 401, 'a channel-less token admits one handshake, on any node');
    const room = uniqueChannel('tokens');
    const forRoom = await mint(b(), { channel: room });
    const joiner = await FrameClient.connect(`${a().url}/?token=${forRoom}`);
    t.after(() => joiner.close());
    joiner.send({ action: 'channel-connect', channel: room, auth: forRoom });
    await awaitFrame(joiner, (f) => f.includes('channel-presence') && f.includes(room));
    const again = await FrameClient.connect(`${b().url}/?token=${TOKEN}`);
    t.after(() => again.close());
    again.send({ action: 'channel-connect', channel: room, auth: forRoom });
    // Spent on node A: refused on node B.
    await awaitFrame(again, (f) => f === envelope('channel-connect', 'Failed to connect to channel', again.fd));
  });

  test('POST /conveyor/message on one node reaches the members on the other; a channel with no member anywhere is 404', async (t) => {
    const [, , b1] = (await fourClients(t, a(), b(), withToken)) as FrameClient[] as [FrameClient, FrameClient, FrameClient];
    const room = uniqueChannel('http');
    b1.send({ action: 'channel-connect', channel: room, auth: TOKEN });
    await awaitFrame(b1, (f) => f.includes('channel-presence') && f.includes(room));
    // Only the node with members subscribes to the channel's topic: one subscriber in Redis.
    assert.deepEqual(redis().cli('pubsub', 'numsub', `conveyor:b:{ch:${room}}`).trim().split('\n'), [`conveyor:b:{ch:${room}}`, '1']);
    const sent = await fetch(`${a().httpUrl}/conveyor/message?token=${TOKEN}`, { method: 'POST', body: JSON.stringify({ channel: room, message: 'from node A' }) });
    assert.equal(sent.status, 200);
    await awaitFrame(b1, (f) => f === envelope('broadcast-action', 'from node A'));
    const missing = await fetch(`${a().httpUrl}/conveyor/message?token=${TOKEN}`, { method: 'POST', body: JSON.stringify({ channel: uniqueChannel('nobody'), message: 'x' }) });
    assert.equal(missing.status, 404);
  });
});

describe('two nodes over one Redis: conveyor bench across nodes', () => {
  const { a, b } = twoNodes(['--workers', '2']);

  test('subscribers spread over both --url, or all on one node with the publishers on the other (--publisher-url): every message delivered', async () => {
    const common = { ...DEFAULT_OPTIONS, scenario: 'fanout' as const, threads: 1, duration: 1, timeout: 5, connections: 20, channels: 2, publishers: 2, rate: 200 };
    for (const placement of [{ url: `${a().url},${b().url}` }, { url: b().url, publisherUrl: a().url }]) {
      const result = await runBench({ ...common, ...placement });
      assert.equal(result.connections.open, 22);
      assert.ok(result.sent >= 100, `sent ${result.sent}`);
      assert.equal(result.expected, result.sent * 10);
      assert.equal(result.delivered, result.expected, JSON.stringify(placement));
    }
  });
});

test('a Redis with a password: the node joins with the password in the URL, and the password reaches no log line', async (t) => {
  const password = 'redis-pass-9f2c71e0';
  const redis = await startRedis(t, ['--requirepass', password]);
  const url = `redis://:${password}@127.0.0.1:${redis.port}`;
  const server = await startServer(['--redis', url], t);
  const health = await healthOf(server);
  assert.equal(health.redis, 'up');
  const client = await FrameClient.connect(server.url);
  client.close();
  await server.stop();
  assert.ok(server.rawOutput.some((line) => line.includes(`127.0.0.1:${redis.port}`)), 'the Redis address is logged');
  assert.ok(!server.rawOutput.some((line) => line.includes(password)), 'the password is not');
});

describe('two nodes over one Redis: presence past --presence-max-members', () => {
  const { a, b } = twoNodes(['--presence', '--presence-max-members', '2']);

  test('a channel with more members than the frame may list, across nodes, gets the count', async (t) => {
    const clients = [await FrameClient.connect(a().url), await FrameClient.connect(b().url), await FrameClient.connect(a().url)];
    t.after(() => clients.forEach((c) => c.close()));
    const room = uniqueChannel('crowd');
    const frames: string[] = [];
    for (const client of clients) {
      const mark = client.frames.length;
      client.send({ action: 'channel-connect', channel: room });
      frames.push(await awaitFrame(client, (f) => f.includes('channel-presence') && f.includes(`\\"fd\\":${client.fd},`), mark));
    }
    const [, second, third] = clients as [FrameClient, FrameClient, FrameClient];
    assert.equal(frames[2], envelope('channel-connect', JSON.stringify({ fd: third.fd, event: 'channel-presence', channel: room, count: 3 })));
    const listed = JSON.parse((JSON.parse(frames[1]!) as { data: string }).data) as { fds: number[] };
    assert.deepEqual(listed.fds, [clients[0]!.fd, second.fd].sort((x, y) => x - y));
  });
});

describe('two nodes over one Redis: acknowledgments', () => {
  const { a, b } = twoNodes(['--workers', '2', '--task-workers', '1', '--ack', '--ack-timeout', '0.2', '--ack-attempts', '2']);

  test('a frame from node A to a member on node B carries an id, is re-sent until acknowledged, and is not re-sent once it is', async (t) => {
    const sender = await FrameClient.connect(a().url, 'socketconveyor.com', { acknowledges: true });
    const silent = await FrameClient.connect(b().url);
    const acking = await FrameClient.connect(b().url, 'socketconveyor.com', { acknowledges: true });
    t.after(() => [sender, silent, acking].forEach((c) => c.close()));
    const room = uniqueChannel('acks');
    for (const client of [silent, acking, sender]) {
      client.send({ action: 'channel-connect', channel: room });
      await client.barrier();
    }
    sender.send({ action: 'broadcast-action', data: 'tracked' });
    const first = await awaitFrame(silent, (f) => f.includes('"tracked"'));
    const id = idOf(first);
    // The silent member gets it again under the same id; the acknowledging one only once.
    await awaitFrame(silent, (f) => f.includes('"tracked"') && idOf(f) === id, 0, 1);
    await awaitFrame(acking, (f) => f.includes('"tracked"'));
    await acking.barrier();
    await awaitFrame(silent, (f) => f.includes('"tracked"'), 0, 2);
    assert.equal(acking.frames.filter((f) => f.includes('"tracked"')).length, 1);
  });
});

describe('two nodes over one Redis: --max-connections-per-ip counts across nodes', () => {
  const { a, b } = twoNodes(['--max-connections-per-ip', '2']);

  test('an address with two sockets, one on each node, is refused a third on either with 429', async (t) => {
    const open = (server: RunningServer, localAddress: string): Promise<number> =>
      new Promise((resolve) => {
        const ws = new WebSocket(server.url, 'socketconveyor.com', { localAddress });
        ws.once('open', () => {
          t.after(() => ws.close());
          resolve(101);
        });
        ws.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
        ws.once('error', () => {});
      });
    assert.equal(await open(a(), '127.0.0.7'), 101);
    assert.equal(await open(b(), '127.0.0.7'), 101);
    assert.equal(await open(a(), '127.0.0.7'), 429);
    assert.equal(await open(b(), '127.0.0.7'), 429);
    assert.equal(await open(b(), '127.0.0.8'), 101, 'another address is not affected');
  });
});
