import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { APP, EventLog, assertCacheChannel, connected, pusherClient, sdkFor, subscribed, type Pusher } from './helpers/pusher.js';
import { startRedis, type RunningRedis } from './helpers/redis.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { webhookReceiver } from './helpers/webhooks.js';

describe('two nodes over one Redis, two workers each: the Pusher protocol with pusher-js and the pusher SDK', () => {
  let redis: RunningRedis;
  let a: RunningServer;
  let b: RunningServer;
  let hooks: Awaited<ReturnType<typeof webhookReceiver>>;
  const open: Pusher[] = [];

  const closers: (() => void)[] = [];
  before(async () => {
    hooks = await webhookReceiver({ after: (fn) => closers.push(fn) });
    redis = await startRedis();
    const config = join(tmpdir(), `conveyor-redis-pusher-${process.pid}.json`);
    writeFileSync(config, JSON.stringify({ pusherApps: [{ ...APP, clientEvents: true, webhooks: [{ url: hooks.url }] }] }));
    const flags = ['--config', config, '--workers', '2', '--redis', redis.url];
    [a, b] = await Promise.all([startServer(flags), startServer(flags)]);
  });
  after(async () => {
    open.forEach((client) => client.disconnect());
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
    closers.forEach((close) => close());
  });

  const client = async (server: RunningServer, user?: { id: string; info?: Record<string, unknown> }): Promise<Pusher> => {
    const made = pusherClient(server, user ? { user } : {});
    open.push(made);
    await connected(made);
    return made;
  };

  test('an event triggered through one node reaches subscribers on the other; channel lists and counts are the whole server\'s', async () => {
    const onB = await client(b);
    const onA = await client(a);
    const { channel } = await subscribed(onB, 'orders');
    await subscribed(onA, 'orders');
    await subscribed(onA, 'news');
    const log = new EventLog((handler) => channel.bind('created', handler));
    await sdkFor(a).trigger('orders', 'created', { id: 7 });
    assert.deepEqual(await log.count(1), [{ id: 7 }]);
    const channels = (await (await sdkFor(b).get({ path: '/channels' })).json()) as { channels: Record<string, unknown> };
    assert.ok('orders' in channels.channels && 'news' in channels.channels, JSON.stringify(channels));
    const orders = (await (await sdkFor(b).get({ path: '/channels/orders', params: { info: 'subscription_count' } })).json()) as { occupied: boolean; subscription_count: number };
    assert.deepEqual(orders, { occupied: true, subscription_count: 2 });
  });

  test('a presence roster lists the members of both nodes, and member events cross', async () => {
    const ann = await client(a, { id: 'ann', info: { name: 'Ann' } });
    const bob = await client(b, { id: 'bob', info: { name: 'Bob' } });
    const annRoom = await subscribed(ann, 'presence-room');
    const added = new EventLog<{ id: string }>((handler) => annRoom.channel.bind('pusher:member_added', handler));
    const removed = new EventLog<{ id: string }>((handler) => annRoom.channel.bind('pusher:member_removed', handler));
    const bobRoom = await subscribed(bob, 'presence-room');
    const members = bobRoom.data as { count: number; members: Record<string, unknown> };
    assert.deepEqual({ count: members.count, members: members.members }, { count: 2, members: { ann: { name: 'Ann' }, bob: { name: 'Bob' } } });
    assert.equal((await added.count(1))[0]?.id, 'bob');
    const users = (await (await sdkFor(a).get({ path: '/channels/presence-room/users' })).json()) as { users: { id: string }[] };
    assert.deepEqual(users.users.map((u) => u.id).sort(), ['ann', 'bob']);
    bob.unsubscribe('presence-room');
    assert.equal((await removed.count(1))[0]?.id, 'bob');
  });

  test('sendToUser through one node reaches the user signed in on the other, and terminateUserConnections closes it', async () => {
    const user = await client(b, { id: 'carol' });
    user.signin();
    await user.user.signinDonePromise;
    const own = user.user.serverToUserChannel!;
    if (!own.subscribed) await new Promise<void>((resolve) => own.bind('pusher:subscription_succeeded', () => resolve()));
    const notices = new EventLog((handler) => user.user.bind('notice', handler));
    await sdkFor(a).sendToUser('carol', 'notice', { text: 'hello' });
    assert.deepEqual(await notices.count(1), [{ text: 'hello' }]);
    const errors = new EventLog<{ data?: { code?: number } }>((handler) => user.connection.bind('error', handler));
    await sdkFor(a).terminateUserConnections('carol');
    assert.equal((await errors.count(1))[0]?.data?.code, 4009);
  });

  test('a cache channel\'s last event, triggered through one node, is what a subscriber on the other gets first', async () => {
    await assertCacheChannel(b, 'cache-nodes', () => sdkFor(a).trigger('cache-nodes', 'price', { eur: 2 }), { event: 'price', data: '{"eur":2}' });
  });

  test('webhooks come once per event for the whole server, not once per node', async () => {
    const mark = hooks.log.events.length;
    const dee = await client(a, { id: 'dee' });
    const eve = await client(b, { id: 'eve' });
    await subscribed(dee, 'presence-hooks');
    await subscribed(eve, 'presence-hooks');
    dee.unsubscribe('presence-hooks');
    eve.unsubscribe('presence-hooks');
    await hooks.log.count(mark + 6, 10_000);
    // A client event through each node: each node sends its webhooks in order, so once both
    // have arrived, so has anything either node sent about the channel before.
    const markers = await Promise.all([subscribed(dee, 'private-marker'), subscribed(eve, 'private-marker')]);
    markers.forEach(({ channel }, i) => channel.trigger('client-marker', { from: i }));
    const isMarker = (e: { name: string; channel: string }): boolean => e.name === 'client_event' && e.channel === 'private-marker';
    for (let n = mark + 8; hooks.log.events.slice(mark).filter(isMarker).length < 2; n++) await hooks.log.count(n, 10_000);
    const events = hooks.log.events.slice(mark).filter((e) => e.channel === 'presence-hooks');
    assert.deepEqual(
      events.map((e) => `${e.name} ${e.user_id ?? ''}`.trim()).sort(),
      ['channel_occupied', 'channel_vacated', 'member_added dee', 'member_added eve', 'member_removed dee', 'member_removed eve'].sort(),
    );
  });
});
