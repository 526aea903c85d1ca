import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { BroadcastScript } from './helpers/broadcast-script.js';
import { awaitFrame } from './helpers/conformance.js';
import { FrameClient as Client } from './helpers/frame-client.js';
import { Fleet, uniqueChannel, type Topology } from './helpers/conformance.js';
import type { FrameClient } from './helpers/frame-client.js';
import { APP_FLAG, EventLog, connected, pusherClient, sdkFor, subscribed } from './helpers/pusher.js';
import { startRedisCluster, type RunningRedisCluster } from './helpers/redis.js';
import { startServer } from './helpers/server.js';

const ONE_WORKER: Topology = { label: '1 worker', workers: 1, flags: [] };

function pubsub(port: number, ...args: string[]): string[] {
  return spawnSync('/usr/bin/redis-cli', ['-p', String(port), 'pubsub', ...args], { encoding: 'utf8' })
    .stdout.split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

// One 3-master cluster for the file: making one takes a few seconds.
let cluster: RunningRedisCluster;
before(async () => {
  cluster = await startRedisCluster();
});
after(() => cluster?.stop());

test('on a 3-master Redis Cluster, two nodes are one server, and the bus is sharded pub/sub spread over the shards', async (t) => {
  const flags = ['--presence', '--pusher-app', APP_FLAG, '--redis', cluster.url];
  const [a, b] = await Promise.all([startServer(flags, t), startServer(flags, t)]);

  // The native protocol: broadcasts and presence across the nodes, in several channels.
  const [a1, a2] = (await new Fleet(a, ONE_WORKER, t).spread(2)) as [FrameClient, FrameClient];
  const [b1, b2] = (await new Fleet(b, ONE_WORKER, t).spread(2)) as [FrameClient, FrameClient];
  const script = new BroadcastScript([a1, a2, b1, b2], { presence: { maxMembers: 1000 } });
  const rooms = Array.from({ length: 6 }, () => uniqueChannel('sharded'));
  await script.join(a1, rooms[0]!);
  await script.join(b1, rooms[0]!);
  await script.join(a2, rooms[1]!);
  await script.join(b2, rooms[1]!);
  await script.broadcast(a1, 'to B through the cluster');
  await script.broadcast(b2, 'to A through the cluster');
  script.verify();

  // The Pusher protocol: an event triggered through one node reaches the other.
  const client = pusherClient(b);
  t.after(() => client.disconnect());
  await connected(client);
  const { channel } = await subscribed(client, 'cluster-orders');
  for (const room of rooms.slice(2)) await subscribed(client, room);
  const log = new EventLog((handler) => channel.bind('created', handler));
  await sdkFor(a).trigger('cluster-orders', 'created', { id: 1 });
  assert.deepEqual(await log.count(1), [{ id: 1 }]);

  // Each topic's channel is a shard channel on the master of its slot; none is classic pub/sub.
  const perMaster = cluster.ports.map((port) => pubsub(port, 'shardchannels', 'conveyor:b:*'));
  const all = perMaster.flat();
  for (const topic of [`ch:${rooms[0]}`, `ch:${rooms[1]}`]) assert.ok(all.includes(`conveyor:b:{${topic}}`), `${topic} is a shard channel: ${JSON.stringify(perMaster)}`);
  assert.ok(perMaster.filter((channels) => channels.length > 0).length >= 2, `the channels are spread over the masters: ${JSON.stringify(perMaster)}`);
  for (const port of cluster.ports) assert.deepEqual(pubsub(port, 'channels', 'conveyor:*'), [], 'no classic pub/sub channel, which every master would carry');
});

test('with --history on a Redis Cluster: one script numbers, keeps and publishes on the channel\'s shard; a rejoin replays', async (t) => {
  const flags = ['--history', '100', '--redis', cluster.url];
  const [a, b] = await Promise.all([startServer(flags, t), startServer(flags, t)]);
  const room = uniqueChannel('sharded-history');
  const sender = await Client.connect(a.url);
  const member = await Client.connect(b.url);
  t.after(() => [sender, member].forEach((c) => c.close()));
  for (const client of [sender, member]) {
    client.send({ action: 'channel-connect', channel: room });
    await client.barrier();
  }
  for (let i = 1; i <= 3; i++) sender.send({ action: 'broadcast-action', data: `c${i}` });
  await awaitFrame(member, (f) => f === `{"action":"broadcast-action","data":"c3","fd":${sender.fd},"seq":3}`);
  const late = await Client.connect(b.url);
  t.after(() => late.close());
  late.send({ action: 'channel-connect', channel: room, since: 1 });
  await awaitFrame(late, (f) => f.includes('"seq":3}'));
  const recovery = JSON.parse(late.frames[1]!) as { action: string; data: { seq: number; recovered: boolean; replayed: number } };
  assert.deepEqual([recovery.action, recovery.data.seq, recovery.data.recovered, recovery.data.replayed], ['channel-recovery', 3, true, 2]);
  assert.deepEqual(late.frames.slice(2, 4).map((f) => (JSON.parse(f) as { data: string }).data), ['c2', 'c3']);
});
