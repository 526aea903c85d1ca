import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { FrameClient } from './helpers/frame-client.js';
import { envelope } from './helpers/fuzz-frames.js';
import { Prng } from './helpers/prng.js';
import { assertSameProcesses, awaitHealth, fetchHealth, placeOnWorkers, processIds } from './helpers/server-health.js';
import { startServer, type RunningServer } from './helpers/server.js';

const CYCLES = 2000;
const CONCURRENCY = 16;
/** The churn must finish by then; past it the server is stuck, not slow. */
const CHURN_DEADLINE_MS = 90_000;
const ROOM = 'churn.room';
const OTHER = 'churn.other';

interface Presence {
  fd: number;
  event: string;
  channel: string;
  fds: number[];
  userIds: Record<string, string | number>;
}

/** The presence frame a socket got, parsed, when `frame` is one (no top-level fd, data a JSON string). */
function presenceOf(frame: string, action = 'channel-connect'): Presence | undefined {
  const parsed = JSON.parse(frame) as { action: string; data: unknown; fd?: number };
  if (parsed.action !== action || parsed.fd !== undefined || typeof parsed.data !== 'string') return undefined;
  const data = JSON.parse(parsed.data) as Presence;
  return data.event === 'channel-presence' ? data : undefined;
}

async function joinAndSeeSelf(client: FrameClient, channel: string): Promise<Presence> {
  client.send({ action: 'channel-connect', channel });
  const frame = await client.next((f) => presenceOf(f)?.fd === client.fd && presenceOf(f)?.channel === channel, 10_000);
  return presenceOf(frame)!;
}

/** A handshake the client gives up on before it completes: the server must forget it. */
function abandonHandshake(server: RunningServer): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: server.port }, () => {
      socket.write(
        'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
      socket.destroy();
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve());
  });
}

/**
 * The ways a churning client comes and goes. Each ends with the client's socket closed
 * (its close event awaited), so that whatever the server still counts afterwards is a ghost.
 */
const CYCLE_KINDS: { name: string; run(server: RunningServer, rng: Prng, n: number): Promise<void> }[] = [
  {
    name: 'join, see itself in presence, close',
    async run(server) {
      const c = await FrameClient.connect(server.url);
      await joinAndSeeSelf(c, ROOM);
      c.close();
      await c.closed;
    },
  },
  {
    name: 'associate a user id, join, see it in presence, close',
    async run(server, rng, n) {
      const c = await FrameClient.connect(server.url);
      const userId = rng.chance(0.5) ? 100_000 + n : `churner-${n}`;
      c.send({ action: 'assoc-user-to-fd-action', userId });
      const seen = await joinAndSeeSelf(c, ROOM);
      assert.equal(seen.userIds[String(c.fd)], userId, 'the joiner sees its own user id');
      c.close();
      await c.closed;
    },
  },
  {
    name: 'join and close at once, before the join is done',
    async run(server) {
      const c = await FrameClient.connect(server.url);
      c.send({ action: 'channel-connect', channel: ROOM });
      c.close();
      await c.closed;
    },
  },
  {
    name: 'associate, join and cut the TCP connection at once',
    async run(server, _rng, n) {
      const c = await FrameClient.connect(server.url);
      c.send({ action: 'assoc-user-to-fd-action', userId: `cut-${n}` });
      c.send({ action: 'channel-connect', channel: ROOM });
      c.ws.terminate();
      await c.closed;
    },
  },
  {
    name: 'join, then cut the TCP connection without a close frame',
    async run(server) {
      const c = await FrameClient.connect(server.url);
      await joinAndSeeSelf(c, ROOM);
      c.ws.terminate();
      await c.closed;
    },
  },
  {
    name: 'join, move to a channel of its own, close',
    async run(server, _rng, n) {
      const c = await FrameClient.connect(server.url);
      await joinAndSeeSelf(c, ROOM);
      await joinAndSeeSelf(c, `churn.side.${n}`);
      c.close();
      await c.closed;
    },
  },
  {
    name: 'join, leave with channel-disconnect, close',
    async run(server) {
      const c = await FrameClient.connect(server.url);
      await joinAndSeeSelf(c, ROOM);
      c.send({ action: 'channel-disconnect' });
      await c.barrier();
      c.close();
      await c.closed;
    },
  },
  {
    name: 'give up on the handshake',
    async run(server) {
      await abandonHandshake(server);
    },
  },
];

test(`churn: ${CYCLES} connect / join / (associate) / disconnect cycles, ${CONCURRENCY} at a time, over 2 workers with presence; the counts return to the long-lived clients exactly and presence lists no ghost`, async (t) => {
  const seed = Prng.seedFromEnv();
  console.log(`hostile churn seed ${seed} (replay: HOSTILE_SEED=${seed})`);
  t.diagnostic(`seed ${seed}`);
  const rng = new Prng(seed);

  const server = await startServer(['--workers', '2', '--presence'], t);
  const pids = await processIds(server, 2);
  const [w1, w2] = (await fetchHealth(server)).workers.map((w) => w.id).sort((a, b) => a - b) as [number, number];

  // A broadcaster and a member on each worker in the room, and one member elsewhere.
  const [broadcaster, near, far, elsewhere] = (await placeOnWorkers(server, [w1, w1, w2, w2], () => FrameClient.connect(server.url), async (c) => {
    c.close();
    await c.closed;
  })) as [FrameClient, FrameClient, FrameClient, FrameClient];
  const longLived = [broadcaster, near, far, elsewhere];
  t.after(() => longLived.forEach((c) => c.close()));
  const userIds: Record<string, string | number> = { [near.fd]: 7, [far.fd]: 'far-user' };
  near.send({ action: 'assoc-user-to-fd-action', userId: 7 });
  far.send({ action: 'assoc-user-to-fd-action', userId: 'far-user' });
  for (const c of [broadcaster, near, far]) await joinAndSeeSelf(c, ROOM);
  await joinAndSeeSelf(elsewhere, OTHER);

  let broadcasts = 0;
  const kindsRun = new Map<string, number>();
  const deadline = Date.now() + CHURN_DEADLINE_MS;
  let next = 0;
  const churner = async (lane: number): Promise<void> => {
    const laneRng = rng.fork(lane);
    while (next < CYCLES) {
      assert.ok(Date.now() < deadline, `churn did not finish within ${CHURN_DEADLINE_MS} ms (${next} cycles started)`);
      const n = next++;
      const kind = laneRng.pick(CYCLE_KINDS);
      kindsRun.set(kind.name, (kindsRun.get(kind.name) ?? 0) + 1);
      await kind.run(server, laneRng, n);
      // The broadcaster keeps talking to the room, one message per finished cycle.
      broadcaster.send({ action: 'broadcast-action', data: { seq: broadcasts++ } });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, lane) => churner(lane)));
  t.diagnostic(`cycles: ${JSON.stringify(Object.fromEntries(kindsRun))}`);

  // The conversation reached both members, whole and in order, across the churn.
  broadcaster.send({ action: 'broadcast-action', data: { seq: 'end' } });
  for (const member of [near, far]) {
    await member.next((f) => f === envelope('broadcast-action', { seq: 'end' }, broadcaster.fd), 30_000);
    const heard = member.frames.filter((f) => f.startsWith('{"action":"broadcast-action"'));
    assert.equal(heard.length, broadcasts + 1, `fd ${member.fd} heard every broadcast`);
    assert.deepEqual(heard, [...Array.from({ length: broadcasts }, (_, seq) => envelope('broadcast-action', { seq }, broadcaster.fd)), envelope('broadcast-action', { seq: 'end' }, broadcaster.fd)]);
  }

  // Through the churn, every presence change in the room still listed the long-lived members.
  const core = [broadcaster.fd, near.fd, far.fd];
  for (const member of [near, far]) {
    const changes = member.frames.map((f) => presenceOf(f) ?? presenceOf(f, 'channel-disconnect')).filter((p): p is Presence => p?.channel === ROOM);
    assert.ok(changes.length >= CYCLES / 2, `fd ${member.fd} saw the churn in presence (${changes.length} changes)`);
    const dropped = changes.filter((p) => p.fd !== member.fd && !core.every((fd) => p.fds.includes(fd)));
    assert.deepEqual(dropped, [], `fd ${member.fd}: no presence change lost a long-lived member`);
  }

  // Every churner's close was awaited; the primary's registry learns of them asynchronously.
  const settled = await awaitHealth(server, (h) => h.connections === longLived.length && h.channels === 2, 'the server counts only the long-lived clients', 20_000);
  assert.equal(settled.connections, 4);
  assert.equal(settled.channels, 2, `${ROOM} and ${OTHER}, no channel left over by a churner`);
  assert.deepEqual(
    settled.workers.map((w) => [w.id, w.connections]).sort(),
    [
      [w1, 2],
      [w2, 2],
    ].sort(),
  );

  // A newcomer sees exactly the long-lived members, and so do they.
  const newcomer = await FrameClient.connect(server.url);
  t.after(() => newcomer.close());
  const members = [broadcaster.fd, near.fd, far.fd, newcomer.fd];
  const seen = await joinAndSeeSelf(newcomer, ROOM);
  assert.deepEqual([...seen.fds].sort((a, b) => a - b), [...members].sort((a, b) => a - b), 'presence lists the long-lived members and the newcomer, no ghost');
  const expectedFrame = envelope('channel-connect', JSON.stringify({ fd: newcomer.fd, event: 'channel-presence', channel: ROOM, fds: seen.fds, userIds }));
  assert.equal(newcomer.frames.find((f) => presenceOf(f)?.fd === newcomer.fd), expectedFrame);
  for (const member of [broadcaster, near, far]) assert.equal(await member.next((f) => presenceOf(f)?.fd === newcomer.fd, 10_000), expectedFrame);

  // The newcomer leaves: the members are told, and the list is back to them alone.
  newcomer.close();
  await newcomer.closed;
  const left = presenceOf(await near.next((f) => presenceOf(f, 'channel-disconnect')?.fd === newcomer.fd, 10_000), 'channel-disconnect')!;
  assert.deepEqual([...left.fds].sort((a, b) => a - b), [broadcaster.fd, near.fd, far.fd].sort((a, b) => a - b));

  await assertSameProcesses(server, pids);

  // Everyone gone: nothing left.
  for (const c of longLived) c.close();
  await Promise.all(longLived.map((c) => c.closed));
  const empty = await awaitHealth(server, (h) => h.connections === 0 && h.channels === 0, 'the server counts nothing once all are closed', 20_000);
  assert.deepEqual(
    empty.workers.map((w) => w.connections),
    [0, 0],
  );
});
