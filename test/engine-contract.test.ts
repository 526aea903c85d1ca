import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { resolveConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import type { Engine, EngineEvents, PresenceMember } from '../src/registry/engine.js';
import { MemoryEngine } from '../src/registry/memory/memory-engine.js';
import { RedisEngine } from '../src/registry/redis/redis-engine.js';
import { TopicWorkers } from '../src/registry/topic-workers.js';
import { channelTopic, pusherTopic } from '../src/topics.js';
import { startRedis, type RunningRedis } from './helpers/redis.js';

/**
 * One contract, two engines: the same cases run against the memory engine and against the
 * Redis engine on a real redis-server, in this process. What each reports is recorded as
 * the events interface receives it.
 */

type Event = { [K in keyof EngineEvents]: { kind: K; args: Parameters<EngineEvents[K]> } }[keyof EngineEvents];

class Recorder implements EngineEvents {
  readonly seen: Event[] = [];
  private waiters: { match: (e: Event) => boolean; resolve: (e: Event) => void }[] = [];

  private record(event: Event): void {
    this.seen.push(event);
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(event)) return true;
      w.resolve(event);
      return false;
    });
  }

  /** The first event, seen or to come, that matches. */
  next(match: (e: Event) => boolean): Promise<Event> {
    const found = this.seen.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  of<K extends Event['kind']>(kind: K): Extract<Event, { kind: K }>[] {
    return this.seen.filter((e): e is Extract<Event, { kind: K }> => e.kind === kind);
  }

  clear(): void {
    this.seen.length = 0;
  }

  membership(...args: Parameters<EngineEvents['membership']>): void {
    this.record({ kind: 'membership', args });
  }
  hook(...args: Parameters<EngineEvents['hook']>): void {
    this.record({ kind: 'hook', args });
  }
  webhook(...args: Parameters<EngineEvents['webhook']>): void {
    this.record({ kind: 'webhook', args });
  }
  memberAdded(...args: Parameters<EngineEvents['memberAdded']>): void {
    this.record({ kind: 'memberAdded', args });
  }
  memberRemoved(...args: Parameters<EngineEvents['memberRemoved']>): void {
    this.record({ kind: 'memberRemoved', args });
  }
  deliver(...args: Parameters<EngineEvents['deliver']>): void {
    this.record({ kind: 'deliver', args });
  }
  terminate(...args: Parameters<EngineEvents['terminate']>): void {
    this.record({ kind: 'terminate', args });
  }
  availability(): void {
    this.record({ kind: 'availability', args: [] });
  }
  pressure(): void {
    this.record({ kind: 'pressure', args: [] });
  }
}

const config = resolveConfig({ flags: { presence: true, history: 10, tempTokenMax: 100 } });
const log = createLogger('silent');
const noWaiting = async (): Promise<{ close(): Promise<void> }> => ({ close: async () => {} });
const W1 = 1;
const W2 = 2;

interface Made {
  engine: Engine;
  events: Recorder;
  topics: TopicWorkers;
}

let redis: RunningRedis;
let prefixes = 0;
const started: Engine[] = [];

async function redisEngine(prefix: string): Promise<Made> {
  const events = new Recorder();
  const topics = new TopicWorkers();
  const engine = new RedisEngine(config, topics, events, { redis: redis.url, redisPrefix: prefix, pendingLimit: config.ipcQueueLimit, countsConnections: () => false }, log);
  await engine.start(noWaiting);
  started.push(engine);
  return { engine, events, topics };
}

const engines: { name: string; make: () => Promise<Made> }[] = [
  {
    name: 'memory',
    make: async () => {
      const events = new Recorder();
      const topics = new TopicWorkers();
      return { engine: new MemoryEngine(config, topics, events), events, topics };
    },
  },
  { name: 'redis', make: () => redisEngine(`contract${prefixes++}`) },
];

function fdsOf(engine: Engine, count: number): number[] {
  const block = engine.takeFds(count);
  assert.ok(block, 'the engine hands out fds');
  return Array.from({ length: count }, (_, i) => block.first + i);
}

before(async () => {
  redis = await startRedis();
});
after(async () => {
  await Promise.all(started.map((engine) => engine.stop()));
  await redis?.stop();
});

for (const { name, make } of engines) {
  describe(`the ${name} engine`, () => {
    test('native channels: joins and leaves report presence with every member, occupied first and vacated last', async () => {
      const { engine, events } = await make();
      const [a, b] = fdsOf(engine, 2) as [number, number];
      engine.open(W1, a);
      engine.open(W2, b);
      await engine.assoc(W2, b, 'bob');
      await engine.join(W1, a, 'room');
      await engine.join(W2, b, 'room');
      const joins = events.of('membership').filter((e) => e.args[0] === 'joined');
      assert.deepEqual(
        joins.map((e) => e.args[1].snapshot.fds),
        [[a], [a, b].sort((x, y) => x - y)],
      );
      assert.deepEqual(joins[1]!.args[1].snapshot.userIds, { [b]: 'bob' });
      assert.deepEqual(
        events.of('hook').map((e) => e.args[0].hook),
        ['channelOccupied'],
      );
      assert.equal(await engine.hasMembers(W1, 'room'), true);
      await engine.leave(W1, a);
      const left = await events.next((e) => e.kind === 'membership' && e.args[0] === 'left');
      assert.deepEqual(left.kind === 'membership' && left.args[1].snapshot.fds, [b]);
      engine.close(W2, b);
      await events.next((e) => e.kind === 'hook' && e.args[0].hook === 'channelVacated');
      assert.equal(await engine.hasMembers(W1, 'room'), false);
    });

    test('temporary tokens: a channel token is spent by its channel-connect, a channel-less one by its handshake', async () => {
      const { engine } = await make();
      const channelToken = await engine.mintToken(W1, 'secret');
      assert.ok('token' in channelToken);
      assert.equal(await engine.admitToken(W1, channelToken.token), true);
      assert.equal(await engine.admitToken(W1, channelToken.token), true, 'a channel token admits handshakes until channel-connect');
      assert.equal(await engine.consumeToken(W1, channelToken.token, 'other'), false);
      assert.equal(await engine.consumeToken(W1, channelToken.token, 'secret'), false, 'spent by the wrong channel');
      const plain = await engine.mintToken(W1);
      assert.ok('token' in plain);
      assert.equal(await engine.admitToken(W1, plain.token), true);
      assert.equal(await engine.admitToken(W1, plain.token), false);
      assert.equal(await engine.admitToken(W1, 'never-minted'), false);
    });

    test('connections per address: reserved up to the limit, given back by the socket that held one', async () => {
      const { engine } = await make();
      const [fd] = fdsOf(engine, 1) as [number];
      assert.equal(await engine.admitAddress(W1, '10.0.0.1', 2), true);
      assert.equal(await engine.admitAddress(W1, '10.0.0.1', 2), true);
      assert.equal(await engine.admitAddress(W1, '10.0.0.1', 2), false);
      // A handshake that did not become a socket gives its reservation back.
      engine.releaseAddress(W1, '10.0.0.1');
      assert.equal(await engine.admitAddress(W1, '10.0.0.1', 2), true);
      // The socket holds the reservation it was admitted with, until it closes.
      engine.open(W1, fd, '10.0.0.1');
      assert.equal(await engine.admitAddress(W1, '10.0.0.1', 2), false);
      engine.close(W1, fd);
      assert.equal(await engine.admitAddress(W1, '10.0.0.1', 2), true);
    });

    test('Pusher presence: rosters, member events once per user, the channel numbers, and a full channel', async () => {
      const { engine, events, topics } = await make();
      const [a, b, c] = fdsOf(engine, 3) as [number, number, number];
      for (const fd of [a, b, c]) assert.equal(await engine.pusherOpen(W1, fd, 'app1', 0), true);
      const ann: PresenceMember = { id: 'ann', info: { name: 'Ann' } };
      const first = await engine.pusherJoin(W1, a, 'presence-room', ann, 2);
      assert.ok(first.ok && first.roster);
      assert.deepEqual(JSON.parse(first.roster.json), { count: 1, ids: ['ann'], hash: { ann: { name: 'Ann' } } });
      const second = await engine.pusherJoin(W1, b, 'presence-room', { id: 'ben', info: null }, 2);
      assert.ok(second.ok && second.roster);
      assert.equal(JSON.parse(second.roster.json).count, 2);
      const added = events.of('memberAdded').map((e) => [e.args[2].id, e.args[3]]);
      assert.deepEqual(added, [
        ['ann', a],
        ['ben', b],
      ]);
      assert.deepEqual(await engine.pusherJoin(W1, c, 'presence-room', { id: 'cat', info: null }, 2), { ok: false, reason: 'full' });
      assert.deepEqual(await engine.pusherChannel(W1, 'app1', 'presence-room'), { occupied: true, subscription_count: 2, user_count: 2 });
      assert.deepEqual((await engine.pusherUsers(W1, 'app1', 'presence-room')).sort(), ['ann', 'ben']);
      assert.deepEqual(await engine.pusherChannels(W1, 'app1', 'presence-', true), { 'presence-room': { user_count: 2 } });
      assert.equal(topics.countOf(pusherTopic('app1', 'presence-room'), W1), 2);
      await engine.pusherLeave(W1, b, 'presence-room');
      const removed = await events.next((e) => e.kind === 'memberRemoved');
      assert.deepEqual(removed.args.slice(0, 3), ['app1', 'presence-room', 'ben']);
      assert.ok(events.of('webhook').some((e) => e.args[1].name === 'channel_occupied' && e.args[1].channel === 'presence-room'));
      engine.close(W1, a);
      await events.next((e) => e.kind === 'webhook' && e.args[1].name === 'channel_vacated');
    });

    test('Pusher cache channels: the last event kept for the next subscriber, a miss said to webhooks', async () => {
      const { engine, events } = await make();
      const [a, b] = fdsOf(engine, 2) as [number, number];
      engine.open(W1, a, undefined, false, 'app1');
      engine.open(W1, b, undefined, false, 'app1');
      const miss = await engine.pusherJoin(W1, a, 'cache-news', undefined, 100);
      assert.deepEqual(miss, { ok: true, cached: null });
      assert.ok(events.of('webhook').some((e) => e.args[1].name === 'cache_miss'));
      engine.pusherRemember(W1, 'app1', 'cache-news', '{"event":"e","channel":"cache-news","data":"1"}');
      const hit = await engine.pusherJoin(W1, b, 'cache-news', undefined, 100);
      assert.deepEqual(hit, { ok: true, cached: '{"event":"e","channel":"cache-news","data":"1"}' });
    });

    test('groups: created by the first member, destroyed with the last, on the worker that caused it', async () => {
      const { engine, events } = await make();
      const [a, b] = fdsOf(engine, 2) as [number, number];
      await engine.groupJoin(W1, a, 'g:/chat:lobby');
      await engine.groupJoin(W2, b, 'g:/chat:lobby');
      await events.next((e) => e.kind === 'hook' && e.args[0].hook === 'groupCreated');
      await engine.groupLeave(W1, a, 'g:/chat:lobby');
      await engine.groupLeave(W2, b, 'g:/chat:lobby');
      const destroyed = await events.next((e) => e.kind === 'hook' && e.args[0].hook === 'groupDestroyed');
      assert.deepEqual(destroyed.args[0], { hook: 'groupDestroyed', topic: 'g:/chat:lobby', worker: W2 });
      assert.equal(events.of('hook').filter((e) => e.args[0].hook === 'groupCreated').length, 1);
    });

    test('history: frames numbered in order, delivered numbered, and replayed from a seq', async () => {
      const { engine, events } = await make();
      const [fd] = fdsOf(engine, 1) as [number];
      engine.open(W1, fd);
      await engine.join(W1, fd, 'kept');
      await engine.nodeInterest(channelTopic('kept'), true);
      const seqs: number[] = [];
      for (const n of [1, 2, 3]) seqs.push(await engine.historyPublish(W1, 'kept', `{"action":"broadcast-action","data":"${n}","fd":${fd}}`));
      assert.deepEqual(seqs, [1, 2, 3]);
      await events.next((e) => e.kind === 'deliver' && e.args[0].seq === 3);
      assert.deepEqual(
        events.of('deliver').map((e) => e.args[0].seq),
        [1, 2, 3],
      );
      const replay = await engine.historyReplay(W1, { channel: 'kept', since: 1 });
      assert.equal(replay.seq, 3);
      assert.deepEqual(
        replay.frames.map((frame) => (JSON.parse(frame) as { data: string }).data),
        ['2', '3'],
      );
    });

    test("a worker's death: its sockets leave their channels, the others stay", async () => {
      const { engine, events } = await make();
      const [a, b] = fdsOf(engine, 2) as [number, number];
      engine.open(W1, a);
      engine.open(W2, b);
      await engine.join(W1, a, 'room');
      await engine.join(W2, b, 'room');
      assert.equal(await engine.pusherOpen(W1, a + 100_000, 'app1', 0), true);
      await engine.pusherJoin(W1, a + 100_000, 'news', undefined, 100);
      events.clear();
      engine.dropWorker(W1);
      const left = await events.next((e) => e.kind === 'membership' && e.args[0] === 'left');
      assert.deepEqual(left.kind === 'membership' && [left.args[1].fd, left.args[1].snapshot.fds], [a, [b]]);
      await events.next((e) => e.kind === 'webhook' && e.args[1].name === 'channel_vacated' && e.args[1].channel === 'news');
      assert.equal(engine.connectionsOf(W1), 0);
      assert.equal(engine.connectionsOf(W2), 1);
      assert.equal(await engine.hasMembers(W2, 'room'), true);
    });

    test('terminating a user is told to every worker', async () => {
      const { engine, events } = await make();
      await engine.pusherTerminate(W1, 'app1', 'ann');
      assert.deepEqual((await events.next((e) => e.kind === 'terminate')).args, ['app1', 'ann']);
    });
  });
}

describe('the redis engine, two nodes', () => {
  test("a channel's members are every node's, and a node that leaves takes its members out", async () => {
    const a = await redisEngine('nodes');
    const b = await redisEngine('nodes');
    const [fa] = fdsOf(a.engine, 1) as [number];
    const [fb] = fdsOf(b.engine, 1) as [number];
    assert.notEqual(fa, fb, 'fds are unique across nodes');
    a.engine.open(W1, fa);
    b.engine.open(W1, fb);
    await a.engine.join(W1, fa, 'shared');
    await b.engine.join(W1, fb, 'shared');
    const joined = b.events.of('membership').at(-1)!;
    assert.deepEqual(joined.args[1].snapshot.fds, [fa, fb].sort((x, y) => x - y));
    assert.equal(a.events.of('hook').length + b.events.of('hook').length, 1, 'occupied once for the whole server');
    assert.equal(b.engine.stats().nodes, 2);
    started.splice(started.indexOf(b.engine), 1);
    await b.engine.stop();
    const left = await b.events.next((e) => e.kind === 'membership' && e.args[0] === 'left');
    assert.deepEqual(left.kind === 'membership' && [left.args[1].fd, left.args[1].snapshot.fds], [fb, [fa]]);
    assert.equal(await a.engine.hasMembers(W1, 'shared'), true);
    await a.engine.leave(W1, fa);
    assert.equal(await a.engine.hasMembers(W1, 'shared'), false);
  });
});

describe("a worker's call in the primary", () => {
  test("runs registry operations only, never an engine's lifecycle or private methods", async () => {
    const { perform } = await import('../src/primary/engine-call.js');
    const events = new Recorder();
    const engine = new MemoryEngine(config, new TopicWorkers(), events);
    assert.equal(perform(engine, W1, { op: 'hasMembers', args: ['room'] }), false);
    for (const op of ['stop', 'dropWorker', 'takeFds', 'publishAcross', 'left', 'constructor', 'toString']) {
      assert.throws(() => perform(engine, W1, { op, args: [] } as never), /no registry operation/);
    }
  });
});
