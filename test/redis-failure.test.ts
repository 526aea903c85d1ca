import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test, type TestContext } from 'node:test';
import { RssWatch, flood } from './helpers/attack.js';
import { APP_FLAG, connected, pusherClient, sdkFor, subscribed } from './helpers/pusher.js';
import { awaitFrame, envelope } from './helpers/conformance.js';
import { FrameClient } from './helpers/frame-client.js';
import { freePort, startRedis } from './helpers/redis.js';
import { processIds } from './helpers/server-health.js';
import { startServer, type RunningServer } from './helpers/server.js';

interface NodeHealth {
  node: string;
  nodes: number;
  redis: 'up' | 'down';
  workers: { id: number; pid: number }[];
  cluster: { failed: number; missed: number; busDisconnects: number; pendingBytes: number };
}

async function healthOf(server: RunningServer): Promise<NodeHealth> {
  const response = await fetch(`${server.httpUrl}${server.healthPath}`);
  assert.equal(response.status, 200, 'a node answers /health (liveness) whatever Redis does');
  return (await response.json()) as NodeHealth;
}

/** Polls until `check` holds, or fails after `ms`: for states that no client event announces. */
async function until<T>(what: string, ms: number, probe: () => Promise<T>, check: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    // A node between workers answers nothing: that is "not yet", not a failure.
    const value = await probe().catch(() => undefined);
    if (value !== undefined && check(value)) return value;
    assert.ok(Date.now() < deadline, `${what} within ${ms} ms; last: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function presenceOf(frame: string): { fd: number; fds: number[] } {
  return JSON.parse((JSON.parse(frame) as { data: string }).data) as { fd: number; fds: number[] };
}

/** Joins `client` to `room` and resolves with its own presence frame. */
async function join(client: FrameClient, room: string, extra: Record<string, unknown> = {}): Promise<string> {
  const mark = client.frames.length;
  client.send({ action: 'channel-connect', channel: room, ...extra });
  return awaitFrame(client, (f) => f.includes('channel-presence') && presenceOf(f).fd === client.fd, mark);
}

/** A sender broadcasting numbered frames every few ms, until stopped; returns how many it sent. */
function traffic(sender: FrameClient): { stop(): number } {
  let sent = 0;
  const timer = setInterval(() => sender.send({ action: 'broadcast-action', data: `n${++sent}` }), 5);
  return {
    stop: () => {
      clearInterval(timer);
      return sent;
    },
  };
}

/** The numbered frames of `sender` a client received, in the order it received them. */
function numbered(client: FrameClient, sender: FrameClient): number[] {
  const out: number[] = [];
  for (const frame of client.frames) {
    const match = /^\{"action":"broadcast-action","data":"n(\d+)","fd":(\d+)\}$/.exec(frame);
    if (match && Number(match[2]) === sender.fd) out.push(Number(match[1]));
  }
  return out;
}

/**
 * A member on `going` and one on `staying` share `room`; after `act`, the one staying hears
 * within 5 s (well inside a heartbeat's 10 s) that the other left.
 */
async function leavesAtOnce(t: TestContext, going: RunningServer, staying: RunningServer, room: string, act: () => void): Promise<void> {
  const leaves = await FrameClient.connect(going.url);
  const stays = await FrameClient.connect(staying.url);
  t.after(() => [leaves, stays].forEach((c) => c.close()));
  await join(leaves, room);
  await join(stays, room);
  const mark = stays.frames.length;
  act();
  const frame = await awaitFrame(stays, (f) => f.includes('channel-disconnect'), mark, 0, 5000);
  assert.deepEqual(presenceOf(frame), { fd: leaves.fd, event: 'channel-presence', channel: room, fds: [stays.fd], userIds: {} });
}

async function killNode(server: RunningServer): Promise<void> {
  const { workers } = await healthOf(server);
  // Power loss: the primary and every worker at once, nothing said to anyone.
  server.process.kill('SIGKILL');
  for (const worker of workers) {
    try {
      process.kill(worker.pid, 'SIGKILL');
    } catch {
      // Already gone with its primary.
    }
  }
  await server.stop();
}

async function nodes(t: TestContext, flags: string[]): Promise<{ a: RunningServer; b: RunningServer; redis: Awaited<ReturnType<typeof startRedis>> }> {
  const redis = await startRedis(t);
  const all = [...flags, '--redis', redis.url];
  const [a, b] = await Promise.all([startServer(all, t), startServer(all, t)]);
  await until('both nodes see each other', 5000, () => healthOf(a), (h) => h.nodes === 2);
  return { a, b, redis };
}

test('a node killed with SIGKILL under traffic: the survivors take its members out within 15 s, without a restart and without losing their own traffic', async (t) => {
  const { a, b } = await nodes(t, ['--workers', '2', '--presence']);
  const sender = await FrameClient.connect(a.url);
  const local = await FrameClient.connect(a.url);
  const doomed = [await FrameClient.connect(b.url), await FrameClient.connect(b.url)];
  t.after(() => [sender, local, ...doomed].forEach((c) => c.close()));
  for (const client of [sender, local, ...doomed]) await join(client, 'kill-room');
  const before = await healthOf(a);
  const flow = traffic(sender);
  t.after(() => flow.stop());
  await awaitFrame(local, (f) => f.includes('"n20"'));
  const mark = local.frames.length;
  await killNode(b);
  // Each of the dead node's sockets leaves the channel: the survivors hear it within 15 s.
  for (const gone of doomed) {
    const frame = await awaitFrame(local, (f) => f.includes('channel-disconnect') && presenceOf(f).fd === gone.fd, mark, 0, 15_000);
    assert.ok(!presenceOf(frame).fds.includes(gone.fd));
  }
  const last = await awaitFrame(local, (f) => f.includes('channel-disconnect') && presenceOf(f).fds.length === 2, mark, 0, 15_000);
  assert.deepEqual(presenceOf(last).fds.sort((x, y) => x - y), [sender.fd, local.fd].sort((x, y) => x - y));
  const sent = flow.stop();
  await awaitFrame(local, (f) => f.includes(`"n${sent}"`));
  assert.deepEqual(numbered(local, sender), Array.from({ length: sent }, (_, i) => i + 1), 'every frame of the surviving node, once, in order');
  const after = await until('the survivor counts itself alone', 5000, () => healthOf(a), (h) => h.nodes === 1);
  assert.deepEqual(after.workers.map((w) => w.pid), before.workers.map((w) => w.pid), 'no worker of the survivor restarted');
});

test('the only worker of a node dies: its sockets leave their channels on every node at once, and the node lives on', async (t) => {
  const { a, b } = await nodes(t, ['--presence']);
  const { workers } = await healthOf(a);
  // Well inside the 10 s a silent node is given: the node itself saw its worker go.
  await leavesAtOnce(t, a, b, 'worker-room', () => process.kill(workers[0]!.pid, 'SIGKILL'));
  await until('node A has a worker again', 10_000, () => healthOf(a), (h) => h.workers.length === 1 && h.workers[0]!.pid !== workers[0]!.pid);
});

test('a node stopped with SIGTERM takes its members out at once, not after its heartbeat lapses', async (t) => {
  const { a, b } = await nodes(t, ['--presence']);
  // Well inside the 10 s a silent node is given: the node said it was going.
  await leavesAtOnce(t, b, a, 'term-room', () => void b.stop('SIGTERM'));
});

test('Redis killed and restarted empty under traffic: every node keeps serving its own sockets, refuses what needs the others with 503, and converges within 10 s', async (t) => {
  const token = 'srv-token-redis-down-4e1';
  const { a, b, redis } = await nodes(t, ['--workers', '2', '--presence', '--token', token, '--pusher-app', APP_FLAG]);
  const q = `/?token=${token}`;
  const sender = await FrameClient.connect(a.url + q);
  const local = await FrameClient.connect(a.url + q);
  const remote = await FrameClient.connect(b.url + q);
  t.after(() => [sender, local, remote].forEach((c) => c.close()));
  for (const client of [sender, local, remote]) {
    client.send({ action: 'channel-connect', channel: 'outage', auth: token });
    await client.barrier();
  }
  const ann = pusherClient(a, { user: { id: 'ann' } });
  const bob = pusherClient(b, { user: { id: 'bob' } });
  t.after(() => [ann, bob].forEach((c) => c.disconnect()));
  await Promise.all([connected(ann), connected(bob)]);
  await subscribed(ann, 'presence-outage');
  await subscribed(bob, 'presence-outage');
  const nodesBefore = await Promise.all([healthOf(a), healthOf(b)]);

  const flow = traffic(sender);
  t.after(() => flow.stop());
  await awaitFrame(remote, (f) => f.includes('"n10"'));
  await redis.kill();
  await until('node A notices Redis is away', 10_000, () => healthOf(a), (h) => h.redis === 'down');
  await until('node B notices Redis is away', 10_000, () => healthOf(b), (h) => h.redis === 'down');
  assert.equal((await fetch(`${a.httpUrl}/ready`)).status, 503);
  const message = await fetch(`${a.httpUrl}/conveyor/message?token=${token}`, { method: 'POST', body: JSON.stringify({ channel: 'outage', message: 'x' }) });
  assert.equal(message.status, 503);
  assert.match(((await message.json()) as { error: string }).error, /Redis/);
  assert.equal((await fetch(`${b.httpUrl}/conveyor/auth?token=${token}`, { method: 'POST', body: '{}' })).status, 503);
  await assert.rejects(sdkFor(b).get({ path: '/channels' }), /status code 503/, 'the Pusher HTTP API answers for the whole server, or says it cannot');
  // Local delivery goes on meanwhile.
  const during = numbered(local, sender).length;
  await awaitFrame(local, (f) => f.includes(`"n${during + 20}"`));

  await redis.restart();
  const restarted = Date.now();
  // Cross-node delivery resumes, and the rosters are whole again, all within 10 s.
  const late = await FrameClient.connect(b.url + q).catch(async () => {
    await until('node B takes handshakes again', 10_000, () => healthOf(b), (h) => h.redis === 'up');
    return FrameClient.connect(b.url + q);
  });
  t.after(() => late.close());
  await until('both nodes re-registered', 10_000 - (Date.now() - restarted), () => Promise.all([healthOf(a), healthOf(b)]), (h) => h.every((n) => n.redis === 'up' && n.nodes === 2));
  const own = await join(late, 'outage', { auth: token });
  assert.deepEqual(presenceOf(own).fds.sort((x, y) => x - y), [sender.fd, local.fd, remote.fd, late.fd].sort((x, y) => x - y), 'the roster holds both nodes\' members again');
  const users = (await (await sdkFor(a).get({ path: '/channels/presence-outage/users' })).json()) as { users: { id: string }[] };
  assert.deepEqual(users.users.map((u) => u.id).sort(), ['ann', 'bob']);
  sender.send({ action: 'broadcast-action', data: 'after the outage' });
  await awaitFrame(remote, (f) => f === envelope('broadcast-action', 'after the outage', sender.fd));
  assert.ok(Date.now() - restarted < 10_000, `converged ${Date.now() - restarted} ms after Redis came back`);

  const sent = flow.stop();
  await awaitFrame(local, (f) => f.includes(`"n${sent}"`));
  assert.deepEqual(numbered(local, sender), Array.from({ length: sent }, (_, i) => i + 1), 'the node\'s own traffic: every frame, once, in order');
  const nodesAfter = await Promise.all([healthOf(a), healthOf(b)]);
  assert.deepEqual(nodesAfter.map((n) => n.workers.map((w) => w.pid)), nodesBefore.map((n) => n.workers.map((w) => w.pid)), 'no process restarted');
  assert.ok(nodesAfter[0]!.cluster.failed > 0, `what could not cross is counted: ${JSON.stringify(nodesAfter.map((n) => n.cluster))}`);
});

test('with --history while Redis is away: a rejoin with since gets the reason in an error frame, and still the live frames of its node', async (t) => {
  const redis = await startRedis(t);
  const server = await startServer(['--history', '100', '--redis', redis.url], t);
  const sender = await FrameClient.connect(server.url);
  const rejoining = await FrameClient.connect(server.url);
  t.after(() => [sender, rejoining].forEach((c) => c.close()));
  sender.send({ action: 'channel-connect', channel: 'away-room' });
  await sender.barrier();
  await redis.kill();
  await until('the node notices Redis is away', 10_000, () => healthOf(server), (h) => h.redis === 'down');
  const mark = rejoining.frames.length;
  rejoining.send({ action: 'channel-connect', channel: 'away-room', since: 3 });
  const error = await awaitFrame(rejoining, (f) => f.includes('"action":"error"'), mark);
  assert.match(error, /Redis/);
  sender.send({ action: 'broadcast-action', data: 'still here' });
  await awaitFrame(rejoining, (f) => f === envelope('broadcast-action', 'still here', sender.fd), mark);
  assert.equal((await healthOf(server)).cluster.failed, 1, 'the frame that reached only this node is counted as failed to cross');
  // Redis back: the numbered frames reach the socket whose replay failed.
  await redis.restart();
  await until('the node is linked again', 10_000, () => healthOf(server), (h) => h.redis === 'up');
  sender.send({ action: 'broadcast-action', data: 'numbered again' });
  await awaitFrame(rejoining, (f) => f.startsWith(`{"action":"broadcast-action","data":"numbered again","fd":${sender.fd},"seq":`), mark);
});

test('a node that cannot reach Redis at start answers 503 "waiting for redis" on /ready (and every path), then serves once Redis is up', async (t) => {
  const redis = await startRedis(t);
  await redis.kill();
  const port = await freePort();
  const starting = startServer(['--redis', redis.url, '--port', String(port)], t);
  let answer: { status: number; body: unknown; retryAfter: string | null } | undefined;
  // Polled: the node gives no sign between forking its primary and holding the port.
  while (answer?.status !== 503) {
    const response = await fetch(`http://127.0.0.1:${port}/ready`).catch(() => undefined);
    if (response) answer = { status: response.status, body: await response.json(), retryAfter: response.headers.get('retry-after') };
    else await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.deepEqual(answer, { status: 503, body: { status: 'waiting for redis' }, retryAfter: '1' });
  await redis.restart();
  const server = await starting;
  assert.equal((await fetch(`${server.httpUrl}/ready`)).status, 200);
});

test('a Redis that stalls (DEBUG SLEEP) under a flood of 60 KB kept broadcasts: the publishing node stays bounded, and each frame is delivered, refused with an error frame or counted', async (t) => {
  const { a, b, redis } = await nodes(t, ['--history', '100']);
  const [flooder, watcher] = await Promise.all([FrameClient.connect(a.url), FrameClient.connect(b.url)]);
  t.after(() => [flooder, watcher].forEach((c) => c.close()));
  for (const client of [watcher, flooder]) {
    client.send({ action: 'channel-connect', channel: 'flood-room' });
    await client.barrier();
  }
  const watch = new RssWatch({ primary: (await processIds(a, 1)).primary });
  t.after(() => watch.stop());
  const chunk = 'f'.repeat(60 * 1024);
  const started = Date.now();
  let stalled: Promise<unknown> | undefined;
  const sent = await flood(flooder, (i) => JSON.stringify({ action: 'broadcast-action', data: `${i} ${chunk}` }), () => {
    // A second into the flood Redis stops answering anyone for 5 s.
    if (!stalled && Date.now() - started > 1000) {
      const cli = spawn('/usr/bin/redis-cli', ['-p', String(redis.port), 'DEBUG', 'SLEEP', '5'], { stdio: 'ignore' });
      stalled = once(cli, 'exit');
    }
    return Date.now() - started > 8000;
  });
  await stalled;
  await flooder.barrier();
  watch.stop();
  // Once what waited for Redis is out, one last frame: behind it every earlier one arrived at B or was missed there.
  await until('what waited for Redis went out', 30_000, () => healthOf(a), (h) => h.cluster.pendingBytes === 0);
  flooder.send({ action: 'broadcast-action', data: 'last' });
  await awaitFrame(watcher, (f) => f.startsWith(`{"action":"broadcast-action","data":"last","fd":${flooder.fd}`), 0, 0, 30_000);
  const received = new Set<number>();
  for (const frame of watcher.frames) {
    const match = /^\{"action":"broadcast-action","data":"(\d+) /.exec(frame);
    if (match) received.add(Number(match[1]));
  }
  const refused = flooder.frames.filter((f) => f.startsWith('{"action":"error"')).length;
  const [healthA, healthB] = await Promise.all([healthOf(a), healthOf(b)]);
  const report = `sent ${sent}: B received ${received.size}, A refused ${refused}, A failed ${healthA.cluster.failed}, B missed ${healthB.cluster.missed} (B's bus cut ${healthB.cluster.busDisconnects} times); RSS ${watch.describe()}`;
  t.diagnostic(report);
  assert.equal(received.size + refused + healthA.cluster.failed + healthB.cluster.missed, sent, `every frame is accounted for once: ${report}`);
  watch.assertGrowthBelow(400);
});

for (const history of [false, true]) test(`Redis closing the bus subscriptions (as at its pubsub output-buffer limit) is logged, counted with each frame missed, and delivery across nodes resumes${history ? ', with --history' : ''}`, async (t) => {
  const { a, b, redis } = await nodes(t, history ? ['--history', '100'] : []);
  const [sender, watcher] = await Promise.all([FrameClient.connect(a.url), FrameClient.connect(b.url)]);
  t.after(() => [sender, watcher].forEach((c) => c.close()));
  for (const client of [watcher, sender]) {
    client.send({ action: 'channel-connect', channel: 'cut-room' });
    await client.barrier();
  }
  // A frame before the cut: the node knows where the channel's numbering stood.
  sender.send({ action: 'broadcast-action', data: 'before' });
  await awaitFrame(watcher, (f) => f.includes('"before"'));
  redis.cli('CLIENT', 'KILL', 'TYPE', 'pubsub');
  const logged = await b.waitForLog((l) => typeof l['msg'] === 'string' && l['msg'].startsWith("Redis closed this node's bus subscription"));
  assert.equal(logged['level'], 50);
  await until('the cut is counted', 5000, () => healthOf(b), (h) => h.cluster.busDisconnects === 1);
  // Resubscribed: a frame sent now crosses (retried until the subscription is back).
  let tries = 0;
  for (; ; tries++) {
    sender.send({ action: 'broadcast-action', data: `after ${tries}` });
    const arrived = await awaitFrame(watcher, (f) => f.includes(`"after ${tries}"`), 0, 0, 500).then(
      () => true,
      () => false,
    );
    if (arrived) break;
    assert.ok(tries < 20, 'frames cross again within 10 s of the cut');
  }
  // The frames sent while the subscription was away are counted as missed, once each.
  const arrivedLate = watcher.frames.filter((f) => /"data":"after \d+"/.test(f)).length - 1;
  t.diagnostic(`${tries} frames sent while the subscription was away, ${arrivedLate} of them arrived after all`);
  assert.equal((await healthOf(b)).cluster.missed, tries - arrivedLate);
  assert.equal(b.logs.filter((l) => typeof l['msg'] === 'string' && l['msg'].startsWith("Redis closed this node's bus subscription")).length, 1, 'said once');
  assert.equal((await healthOf(b)).redis, 'up', 'the commands link was not what was cut');
});
