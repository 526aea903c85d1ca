import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import Conveyor, { type Recovery } from '../src/client/node.js';
import { Fleet, awaitFrame, envelope, uniqueChannel, type Topology } from './helpers/conformance.js';
import { FrameClient } from './helpers/frame-client.js';
import { startRedis, type RunningRedis } from './helpers/redis.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';

const TWO_WORKERS: Topology = { label: '2 workers', workers: 2, flags: [] };

interface Received {
  data: unknown;
  seq: number | undefined;
}

/** The SDK as an app uses it: reconnecting, in a channel, recording what it shows the app. */
async function subscriber(t: TestContext, port: number, channel: string): Promise<{ client: Conveyor; got: Received[]; recoveries: Recovery[]; until(data: unknown): Promise<void> }> {
  const client = new Conveyor({ port, channel, reconnect: true, reconnectDelay: 50, reconnectDelayMax: 300, heartBeatInterval: 1000, backlog: 1000 });
  t.after(() => client.close());
  const got: Received[] = [];
  const recoveries: Recovery[] = [];
  let waiter: { data: unknown; resolve: () => void } | undefined;
  client.on('message', (data, _fd, frame) => {
    got.push({ data, seq: frame.seq });
    if (waiter && data === waiter.data) waiter.resolve();
  });
  const first = new Promise<void>((resolve) => client.on('recovery', (r) => (recoveries.push(r), resolve())));
  await first;
  return {
    client,
    got,
    recoveries,
    until: (data) => (got.some((r) => r.data === data) ? Promise.resolve() : new Promise((resolve) => (waiter = { data, resolve }))),
  };
}

/** Sends `count` numbered broadcasts from a client every few ms; `onSent(i)` runs after each. */
async function publish(sender: FrameClient, count: number, onSent: (i: number) => void | Promise<void> = () => {}): Promise<string[]> {
  const sent: string[] = [];
  for (let i = 1; i <= count; i++) {
    const data = `m${i}`;
    sender.send({ action: 'broadcast-action', data });
    sent.push(data);
    await onSent(i);
    await new Promise((resolve) => setTimeout(resolve, 4));
  }
  return sent;
}

function assertExactlyOnceInOrder(got: Received[], sent: string[]): void {
  assert.deepEqual(got.map((r) => r.data), sent, 'every message once, in order');
  const seqs = got.map((r) => r.seq!);
  assert.ok(seqs.every((seq, i) => i === 0 || seq === seqs[i - 1]! + 1), `consecutive seqs: ${seqs.join(',')}`);
}

/**
 * Two publishers send `each` frames at once into a channel: both members see the same frames,
 * numbered 1 to 2 × `each`, and each publisher's frames in the order it sent them.
 */
async function assertOneOrder(publishers: [FrameClient, FrameClient], members: [FrameClient, FrameClient], room: string, each: number): Promise<void> {
  for (const client of [...publishers, ...members]) await joined(client, room);
  for (let i = 0; i < each; i++) publishers.forEach((p, n) => p.send({ action: 'broadcast-action', data: `${n}-${i}` }));
  const numbered = async (member: FrameClient): Promise<string[]> => {
    await awaitFrame(member, (f) => f.includes(`"seq":${2 * each}}`));
    return member.frames.filter((f) => f.includes('"seq":'));
  };
  const [one, two] = await Promise.all(members.map(numbered));
  assert.deepEqual(one, two, 'one order for everyone');
  assert.deepEqual(one!.map((f) => (JSON.parse(f) as { seq: number }).seq), Array.from({ length: 2 * each }, (_, i) => i + 1));
  const data = one!.map((f) => (JSON.parse(f) as { data: string }).data);
  assert.deepEqual(data.filter((d) => d.startsWith('0-')), Array.from({ length: each }, (_, i) => `0-${i}`));
}

/** An SDK subscriber whose link goes through a TCP proxy the test can cut, and a peer in the same channel. */
async function behindProxy(t: TestContext, server: RunningServer, prefix: string): Promise<{ proxy: TcpProxy; sub: Awaited<ReturnType<typeof subscriber>>; peer: FrameClient }> {
  const proxy = await startTcpProxy(t, server.port);
  const room = uniqueChannel(prefix);
  const sub = await subscriber(t, proxy.port, room);
  const peer = await FrameClient.connect(server.url);
  t.after(() => peer.close());
  await joined(peer, room);
  return { proxy, sub, peer };
}

async function joined(client: FrameClient, channel: string, extra: Record<string, unknown> = {}): Promise<void> {
  client.send({ action: 'channel-connect', channel, ...extra });
  await client.barrier();
}

describe('history on one machine, two workers', () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer(['--workers', '2', '--history', '1000']);
  });
  after(() => server.stop());

  test('two publishers on different workers: every member on either worker sees the same seq order', async (t) => {
    const [p1, p2, m1, m2] = (await new Fleet(server, TWO_WORKERS, t).spread(4)) as [FrameClient, FrameClient, FrameClient, FrameClient];
    await assertOneOrder([p1, p2], [m1, m2], uniqueChannel('order'), 40);
  });

  test('a subscriber whose link is cut gets, after its SDK reconnects, every message exactly once and in order', async (t) => {
    const { proxy, sub, peer: sender } = await behindProxy(t, server, 'cut');
    const sent = await publish(sender, 120, (i) => {
      if (i === 40 || i === 80) proxy.cut();
    });
    await sub.until(sent.at(-1));
    assertExactlyOnceInOrder(sub.got, sent);
    assert.ok(sub.recoveries.length >= 3, `recovered after each cut: ${JSON.stringify(sub.recoveries)}`);
    assert.deepEqual(sub.recoveries.slice(1).map((r) => [r.recovered, r.missed, r.initial]), sub.recoveries.slice(1).map(() => [true, 0, false]));
  });

  test('after a reconnect the SDK does not show a client its own earlier messages, which the replay holds', async (t) => {
    const { proxy, sub: me, peer: other } = await behindProxy(t, server, 'own');
    other.send({ action: 'broadcast-action', data: 'o1' });
    await me.until('o1');
    me.client.send('s1', 'broadcast-action');
    me.client.send('s2', 'broadcast-action');
    await awaitFrame(other, (f) => f.includes('"s2"'));
    proxy.cut();
    other.send({ action: 'broadcast-action', data: 'o2' });
    await me.until('o2');
    assert.deepEqual(me.got.map((r) => r.data), ['o1', 'o2']);
    const rejoin = me.recoveries.at(-1)!;
    assert.deepEqual([rejoin.recovered, rejoin.initial, rejoin.replayed >= 2], [true, false, true], JSON.stringify(rejoin));
  });

  test('a subscriber whose worker is killed with SIGKILL reconnects and misses nothing', async (t) => {
    const room = uniqueChannel('kill');
    const sub = await subscriber(t, server.port, room);
    const health = (await (await fetch(`${server.httpUrl}/health`)).json()) as { workers: { id: number; pid: number; connections: number }[] };
    const victim = health.workers.find((w) => w.connections > 0)!;
    // The sender on the other worker, so that it survives.
    const fleet = new Fleet(server, TWO_WORKERS, t);
    let sender: FrameClient;
    for (;;) {
      sender = await FrameClient.connect(server.url);
      const now = (await (await fetch(`${server.httpUrl}/health`)).json()) as typeof health;
      if (now.workers.find((w) => w.id === victim.id)!.connections === victim.connections) break;
      sender.close();
      await sender.closed;
    }
    void fleet;
    t.after(() => sender.close());
    await joined(sender, room);
    const sent = await publish(sender, 100, (i) => {
      if (i === 30) process.kill(victim.pid, 'SIGKILL');
    });
    await sub.until(sent.at(-1));
    assertExactlyOnceInOrder(sub.got, sent);
    assert.equal(sub.recoveries.at(-1)?.recovered, true);
  });
});

test('history across a SIGHUP roll: the frames kept survive it, with the same epoch', async (t) => {
  const server = await startServer(['--workers', '2', '--history', '1000'], t);
  const room = uniqueChannel('roll');
  const sub = await subscriber(t, server.port, room);
  const epoch = sub.recoveries[0]!.epoch;
  const sent: string[] = [];
  const maybe = new Set<string>();
  let rolled = false;
  for (let i = 1; i <= 150 || !rolled; i++) {
    if (i === 40) {
      server.process.kill('SIGHUP');
      void server.waitForLog((l) => l['msg'] === 'rolling restart done').then(() => (rolled = true));
    }
    const data = `h${i}`;
    // An HTTP publish during the roll may be cut before its answer: it may or may not be kept.
    const answer = await fetch(`${server.httpUrl}/conveyor/message`, { method: 'POST', body: JSON.stringify({ channel: room, message: data }) }).catch(() => undefined);
    if (answer?.status === 200) sent.push(data);
    else maybe.add(data);
    await new Promise((resolve) => setTimeout(resolve, 4));
  }
  await sub.until(sent.at(-1));
  const got = sub.got.map((r) => r.data as string);
  assert.deepEqual(got.filter((d) => !maybe.has(d)), sent, 'every answered publish once, in order');
  assert.equal(new Set(got).size, got.length, 'nothing twice');
  assert.ok(sub.recoveries.length >= 2, 'the roll closed the socket and the SDK rejoined');
  assert.ok(sub.recoveries.slice(1).every((r) => r.recovered && r.epoch === epoch), JSON.stringify(sub.recoveries));
});

// The same rules whether the primary keeps the frames or Redis does: each reads them its own way.
for (const kept of ['in the primary', 'in Redis'] as const) describe(`history rules on the wire, frames kept ${kept}: trimmed, another epoch, the backlog, HTTP`, () => {
  let server: RunningServer;
  let redis: RunningRedis | undefined;
  before(async () => {
    if (kept === 'in Redis') redis = await startRedis();
    server = await startServer(['--history', '3', ...(redis ? ['--redis', redis.url] : [])]);
  });
  after(async () => {
    await server?.stop();
    await redis?.stop();
  });

  const post = async (channel: string, message: string): Promise<{ status: number; body: Record<string, unknown> }> => {
    const answer = await fetch(`${server.httpUrl}/conveyor/message`, { method: 'POST', body: JSON.stringify({ channel, message }) });
    return { status: answer.status, body: (await answer.json()) as Record<string, unknown> };
  };

  test('POST /conveyor/message to a channel with no member is kept and answered with its seq; a joiner since 0 gets the backlog', async (t) => {
    const room = uniqueChannel('kept');
    for (let i = 1; i <= 2; i++) assert.deepEqual(await post(room, `k${i}`), { status: 200, body: { success: 'Message sent successfully!', seq: i } });
    const client = await FrameClient.connect(server.url);
    t.after(() => client.close());
    await joined(client, room, { since: 0 });
    const recovery = JSON.parse(client.frames.find((f) => f.includes('channel-recovery'))!) as { data: { epoch: string } };
    assert.deepEqual(client.frames.slice(1, 4), [
      JSON.stringify({ action: 'channel-recovery', data: { channel: room, epoch: recovery.data.epoch, seq: 2, recovered: true, replayed: 2 }, fd: client.fd }),
      '{"action":"broadcast-action","data":"k1","seq":1}',
      '{"action":"broadcast-action","data":"k2","seq":2}',
    ]);
  });

  test('trimmed history, a limit, and another epoch say recovered: false; since 0 with limit 0 gives the position only', async (t) => {
    const room = uniqueChannel('trim');
    for (let i = 1; i <= 6; i++) await post(room, `t${i}`);
    const client = await FrameClient.connect(server.url);
    t.after(() => client.close());
    const recoveryOf = async (extra: Record<string, unknown>): Promise<{ data: Record<string, unknown>; frames: string[] }> => {
      const mark = client.frames.length;
      await joined(client, room, extra);
      const frames = client.frames.slice(mark, -1);
      client.send({ action: 'channel-disconnect' });
      await client.barrier();
      return { data: (JSON.parse(frames[0]!) as { data: Record<string, unknown> }).data, frames: frames.slice(1) };
    };
    const trimmed = await recoveryOf({ since: 1 });
    assert.deepEqual([trimmed.data['recovered'], trimmed.data['replayed'], trimmed.data['seq']], [false, 3, 6]);
    assert.deepEqual(trimmed.frames.map((f) => (JSON.parse(f) as { seq: number }).seq), [4, 5, 6]);
    const epoch = trimmed.data['epoch'] as string;
    assert.deepEqual((await recoveryOf({ since: 4, epoch })).data, { channel: room, epoch, seq: 6, recovered: true, replayed: 2 });
    assert.deepEqual((await recoveryOf({ since: 3, epoch, limit: 1 })).data, { channel: room, epoch, seq: 6, recovered: false, replayed: 1 });
    assert.deepEqual((await recoveryOf({ since: 5, epoch: 'another' })).data, { channel: room, epoch, seq: 6, recovered: false, replayed: 3 });
    assert.deepEqual((await recoveryOf({ since: 9, epoch })).data, { channel: room, epoch, seq: 6, recovered: false, replayed: 3 });
    assert.deepEqual((await recoveryOf({ since: 0, limit: 0 })).data, { channel: room, epoch, seq: 6, recovered: false, replayed: 0 });
    const backlog = (await (await fetch(`${server.httpUrl}/conveyor/history?channel=${room}&since=4&epoch=${epoch}`)).json()) as Record<string, unknown>;
    assert.deepEqual(backlog, { channel: room, epoch, seq: 6, recovered: true, frames: [{ action: 'broadcast-action', data: 't5', seq: 5 }, { action: 'broadcast-action', data: 't6', seq: 6 }] });
    const empty = (await (await fetch(`${server.httpUrl}/conveyor/history?channel=${uniqueChannel('nothing')}`)).json()) as Record<string, unknown>;
    assert.deepEqual([empty['seq'], empty['recovered'], empty['frames']], [0, true, []]);
    assert.equal((await fetch(`${server.httpUrl}/conveyor/history?channel=x&since=-1`)).status, 400);
  });

  test('the SDK tells the app how many messages it missed when the history no longer held them', async (t) => {
    const proxy = await startTcpProxy(t, server.port);
    const room = uniqueChannel('missed');
    const sub = await subscriber(t, proxy.port, room);
    await post(room, 'before');
    await sub.until('before');
    // The link is down, and stays down while six more are sent: the history keeps three.
    proxy.retarget(1);
    proxy.cut();
    for (let i = 1; i <= 6; i++) await post(room, `while-away-${i}`);
    const rejoined = new Promise<Recovery>((resolve) => sub.client.on('recovery', resolve));
    proxy.retarget(server.port);
    const recovery = await rejoined;
    assert.deepEqual([recovery.recovered, recovery.missed, recovery.replayed, recovery.initial], [false, 3, 3, false]);
    await sub.until('while-away-6');
    assert.deepEqual(sub.got.map((r) => r.data), ['before', 'while-away-4', 'while-away-5', 'while-away-6']);
  });

  test('a bad since, epoch or limit gets an error frame', async (t) => {
    const client = await FrameClient.connect(server.url);
    t.after(() => client.close());
    for (const [field, value] of [['since', -1], ['since', 'x'], ['epoch', 5], ['limit', 1.5]] as const) {
      const mark = client.frames.length;
      client.send({ action: 'channel-connect', channel: 'bad', [field]: value });
      await client.barrier();
      assert.match(client.frames[mark]!, new RegExp(`"action":"error".*${field}`), `${field}: ${String(value)}`);
    }
  });
});

test('with --ack, live and replayed numbered frames carry a fresh id after seq, and are not sent again once acknowledged', async (t) => {
  const server = await startServer(['--history', '10', '--ack', '--ack-timeout', '0.2'], t);
  for (const message of ['a1', 'a2']) await fetch(`${server.httpUrl}/conveyor/message`, { method: 'POST', body: JSON.stringify({ channel: 'acked', message }) });
  const client = await FrameClient.connect(server.url, 'socketconveyor.com', { acknowledges: true });
  t.after(() => client.close());
  await joined(client, 'acked', { since: 0 });
  await fetch(`${server.httpUrl}/conveyor/message`, { method: 'POST', body: JSON.stringify({ channel: 'acked', message: 'a3' }) });
  await awaitFrame(client, (f) => f.includes('"a3"'));
  const numbered = client.frames.filter((f) => f.startsWith('{"action":"broadcast-action"'));
  assert.deepEqual(
    numbered.map((f) => f.replace(/"id":"[^"]+"/, '"id":ID')),
    [1, 2, 3].map((n) => `{"action":"broadcast-action","data":"a${n}","seq":${n},"id":ID}`),
  );
  // Every id was tracked and is acknowledged: nothing waits for a re-send.
  for (;;) {
    const { workers } = (await (await fetch(`${server.httpUrl}/health`)).json()) as { workers: { ackPending: number }[] };
    if (workers.every((w) => w.ackPending === 0)) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.equal(client.frames.filter((f) => f.startsWith('{"action":"broadcast-action"')).length, 3);
});

test('with history off nothing on the wire changes: no seq, since is ignored, no /conveyor/history', async (t) => {
  const server = await startServer([], t);
  const [a, b] = [await FrameClient.connect(server.url), await FrameClient.connect(server.url)];
  t.after(() => [a, b].forEach((c) => c.close()));
  await joined(a, 'plain', { since: 0 });
  await joined(b, 'plain');
  b.send({ action: 'broadcast-action', data: 'hi' });
  await awaitFrame(a, (f) => f === envelope('broadcast-action', 'hi', b.fd));
  assert.ok(!a.frames.some((f) => f.includes('channel-recovery') || f.includes('"seq"')));
  assert.equal((await fetch(`${server.httpUrl}/conveyor/history?channel=plain`)).status, 404);
});

describe('history across two nodes over Redis', () => {
  let redis: RunningRedis;
  let a: RunningServer;
  let b: RunningServer;
  before(async () => {
    redis = await startRedis();
    const flags = ['--history', '1000', '--redis', redis.url];
    [a, b] = await Promise.all([startServer(flags), startServer(flags)]);
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  test('two publishers on different nodes: members on both see the same seq order', async (t) => {
    const clients = [await FrameClient.connect(a.url), await FrameClient.connect(b.url), await FrameClient.connect(a.url), await FrameClient.connect(b.url)];
    t.after(() => clients.forEach((c) => c.close()));
    const [p1, p2, m1, m2] = clients as [FrameClient, FrameClient, FrameClient, FrameClient];
    await assertOneOrder([p1, p2], [m1, m2], uniqueChannel('nodes-order'), 30);
  });

  test('a backlog of many parts (300 kept frames of 10 KB) is replayed whole and in order, to a socket and over HTTP', async (t) => {
    const room = uniqueChannel('deep');
    const pad = 'd'.repeat(10 * 1024);
    // Sent a few at a time: an honest publisher waits for answers.
    for (let i = 1; i <= 300; i += 20) {
      const answers = await Promise.all(Array.from({ length: 20 }, (_, j) => fetch(`${a.httpUrl}/conveyor/message`, { method: 'POST', body: JSON.stringify({ channel: room, message: `${i + j} ${pad}` }) })));
      assert.ok(answers.every((r) => r.status === 200));
    }
    const joiner = await FrameClient.connect(b.url);
    t.after(() => joiner.close());
    await joined(joiner, room, { since: 0 });
    await awaitFrame(joiner, (f) => f.startsWith('{"action":"broadcast-action","data":"300 '));
    const recovery = JSON.parse(joiner.frames.find((f) => f.includes('channel-recovery'))!) as { data: Record<string, unknown> };
    assert.deepEqual([recovery.data['recovered'], recovery.data['replayed'], recovery.data['seq']], [true, 300, 300]);
    const replayed = joiner.frames.filter((f) => f.startsWith('{"action":"broadcast-action"')).map((f) => (JSON.parse(f) as { seq: number }).seq);
    assert.deepEqual(replayed, Array.from({ length: 300 }, (_, i) => i + 1));
    const read: number[] = [];
    let parts = 0;
    for (let since = 0; ; parts++) {
      const part = (await (await fetch(`${b.httpUrl}/conveyor/history?channel=${room}&since=${since}`)).json()) as { next?: number; recovered: boolean; frames: { seq: number }[] };
      read.push(...part.frames.map((f) => f.seq));
      if (part.next === undefined) {
        assert.equal(part.recovered, true);
        break;
      }
      since = part.next;
    }
    assert.ok(parts >= 2, `read in ${parts + 1} parts`);
    assert.deepEqual(read, Array.from({ length: 300 }, (_, i) => i + 1));
  });

  test('a subscriber whose node is killed reconnects to the other node and misses nothing', async (t) => {
    const c = await startServer(['--history', '1000', '--redis', redis.url], t);
    const proxy = await startTcpProxy(t, c.port);
    const room = uniqueChannel('node-kill');
    const sub = await subscriber(t, proxy.port, room);
    const sender = await FrameClient.connect(a.url);
    t.after(() => sender.close());
    await joined(sender, room);
    const sent = await publish(sender, 100, async (i) => {
      if (i !== 30) return;
      // The load balancer sends new connections to a live node; the dead one's are gone.
      proxy.retarget(b.port);
      const { workers } = (await (await fetch(`${c.httpUrl}/health`)).json()) as { workers: { pid: number }[] };
      c.process.kill('SIGKILL');
      for (const worker of workers) process.kill(worker.pid, 'SIGKILL');
      proxy.cut();
    });
    await sub.until(sent.at(-1));
    assertExactlyOnceInOrder(sub.got, sent);
    assert.equal(sub.recoveries.at(-1)?.recovered, true);
  });
});
