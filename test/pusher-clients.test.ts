import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PresenceChannel } from 'pusher-js';
import { sharedServer, uniqueChannel } from './helpers/conformance.js';
import { APP_FLAG, EventLog, connected, echoOn, pusherClient, sdkFor, spreadClients, subscribed } from './helpers/pusher.js';
import { fetchHealth } from './helpers/server-health.js';

/**
 * The Pusher mode through the libraries its users have: pusher-js (its Node build),
 * laravel-echo on it, and the `pusher` SDK, against a real server with one and with two
 * workers (clients are spread until /health shows every worker holding some).
 */
for (const workers of [1, 2]) {
  const label = workers === 1 ? '1 worker' : `${workers} workers`;
  describe(`Pusher clients, ${label}`, () => {
    const server = sharedServer(['--workers', String(workers), '--pusher-app', APP_FLAG, '--pusher-client-events']);

    test(`pusher-js connects with a socket_id; an SDK trigger reaches every subscriber on every worker, except the socket_id it names [${label}]`, async (t) => {
      const clients = await spreadClients(server(), workers, 4, () => pusherClient(server()), t);
      for (const client of clients) assert.match(client.connection.socket_id, /^\d+\.\d+$/);
      assert.equal(new Set(clients.map((c) => c.connection.socket_id)).size, clients.length, 'socket ids are unique');
      const name = uniqueChannel('orders');
      const logs = await Promise.all(
        clients.map(async (client) => {
          const { channel } = await subscribed(client, name);
          return new EventLog((handler) => channel.bind('shipped', handler));
        }),
      );
      const sdk = sdkFor(server());
      const response = await sdk.trigger(name, 'shipped', { order: 1 });
      assert.equal(response.status, 200);
      for (const log of logs) assert.deepEqual(await log.count(1), [{ order: 1 }]);
      // Excluding the sender's socket, as Laravel's toOthers() does.
      await sdk.trigger(name, 'shipped', { order: 2 }, { socket_id: clients[0]!.connection.socket_id });
      await sdk.trigger(name, 'shipped', { order: 3 });
      for (const [i, log] of logs.entries()) assert.deepEqual(await log.count(i === 0 ? 2 : 3), i === 0 ? [{ order: 1 }, { order: 3 }] : [{ order: 1 }, { order: 2 }, { order: 3 }]);
      const health = await fetchHealth(server());
      assert.ok(health.workers.every((w) => w.connections > 0), `every worker holds sockets: ${JSON.stringify(health.workers.map((w) => w.connections))}`);
    });

    test(`laravel-echo: channel().listen, private() and whisper/listenForWhisper, never echoed to the whisperer [${label}]`, async (t) => {
      const clients = await spreadClients(server(), workers, 2, () => pusherClient(server()), t);
      const [a, b] = clients.map(echoOn);
      const room = uniqueChannel('chat');
      const publicLog = new EventLog<unknown>((handler) => b!.channel(room).listen('.message.sent', handler));
      const privateLog = new EventLog<unknown>((handler) => b!.private(room).listen('.message.sent', handler));
      const whispers = new EventLog<unknown>((handler) => b!.private(room).listenForWhisper('typing', handler));
      const ownWhispers = new EventLog<unknown>((handler) => a!.private(room).listenForWhisper('typing', handler));
      await subscribed(clients[0]!, `private-${room}`);
      await subscribed(clients[1]!, `private-${room}`);
      await subscribed(clients[1]!, room);
      const sdk = sdkFor(server());
      await sdk.trigger(room, 'message.sent', { text: 'public' });
      await sdk.trigger(`private-${room}`, 'message.sent', { text: 'private' });
      assert.deepEqual(await publicLog.count(1), [{ text: 'public' }]);
      assert.deepEqual(await privateLog.count(1), [{ text: 'private' }]);
      a!.private(room).whisper('typing', { name: 'Ann' });
      assert.deepEqual(await whispers.count(1), [{ name: 'Ann' }]);
      // A later whisper of b's reaches a, and a never heard its own.
      b!.private(room).whisper('typing', { name: 'Bob' });
      assert.deepEqual(await ownWhispers.count(1), [{ name: 'Bob' }]);
    });

    test(`laravel-echo join(): here, joining and leaving per user, not per connection, across workers [${label}]`, async (t) => {
      const room = uniqueChannel('room');
      const ann = echoOn(pusherClient(server(), { user: { id: '1', info: { name: 'Ann' } } }));
      t.after(() => ann.disconnect());
      const here = await new Promise<unknown[]>((resolve) => ann.join(room).here(resolve));
      assert.deepEqual(here, [{ name: 'Ann' }]);
      const joining = new EventLog<unknown>((handler) => ann.join(room).joining(handler));
      const leaving = new EventLog<unknown>((handler) => ann.join(room).leaving(handler));
      // Bob opens two connections (on whatever workers they land); Ann hears him join once.
      const bobs = await spreadClients(server(), workers, 2, () => pusherClient(server(), { user: { id: '2', info: { name: 'Bob' } } }), t);
      const rosters = await Promise.all(bobs.map(async (bob) => ((await subscribed(bob, `presence-${room}`)).channel as PresenceChannel).members));
      assert.deepEqual(await joining.count(1), [{ name: 'Bob' }]);
      for (const members of rosters) {
        assert.equal(members.count, 2);
        assert.deepEqual(Object.keys(members.members).sort(), ['1', '2']);
      }
      // Only the last of Bob's connections leaving makes him leave.
      for (const bob of bobs.slice(0, -1)) bob.unsubscribe(`presence-${room}`);
      const sdk = sdkFor(server());
      for (let i = 0; ; i++) {
        const info = (await (await sdk.get({ path: `/channels/presence-${room}`, params: { info: 'subscription_count' } })).json()) as { subscription_count: number };
        if (info.subscription_count === 2) break;
        assert.ok(i < 200, 'the unsubscriptions never reached the registry');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const marker = new EventLog((handler) => ann.join(room).listen('.marker', handler));
      await sdk.trigger(`presence-${room}`, 'marker', {});
      await marker.count(1);
      assert.deepEqual(leaving.events, []);
      bobs.at(-1)!.unsubscribe(`presence-${room}`);
      assert.deepEqual(await leaving.count(1), [{ name: 'Bob' }]);
      assert.equal(joining.events.length, 1, 'the second connection of the same user did not join again');
    });

    test(`the SDK's triggerBatch, channel listing, channel info and presence users answer for the whole server [${label}]`, async (t) => {
      const clients = await spreadClients(server(), workers, 3, (i) => pusherClient(server(), { user: { id: `u${i % 2}` } }), t);
      const prefix = uniqueChannel('presence-batch').replace(/\./g, '-');
      const logs = await Promise.all(
        clients.map(async (client) => {
          const { channel } = await subscribed(client, prefix);
          return new EventLog((handler) => channel.bind('tick', handler));
        }),
      );
      const sdk = sdkFor(server());
      const batch = await sdk.triggerBatch([
        { channel: prefix, name: 'tick', data: { n: 1 } },
        { channel: prefix, name: 'tick', data: { n: 2 } },
      ]);
      assert.equal(batch.status, 200);
      for (const log of logs) assert.deepEqual(await log.count(2), [{ n: 1 }, { n: 2 }]);
      const listing = (await (await sdk.get({ path: '/channels', params: { filter_by_prefix: prefix, info: 'user_count' } })).json()) as { channels: Record<string, unknown> };
      assert.deepEqual(listing, { channels: { [prefix]: { user_count: 2 } } });
      const info = await (await sdk.get({ path: `/channels/${prefix}`, params: { info: 'subscription_count,user_count' } })).json();
      assert.deepEqual(info, { occupied: true, subscription_count: clients.length, user_count: 2 });
      const users = (await (await sdk.get({ path: `/channels/${prefix}/users` })).json()) as { users: { id: string }[] };
      assert.deepEqual(users.users.map((u) => u.id).sort(), ['u0', 'u1']);
      const empty = await (await sdk.get({ path: '/channels/nobody-here', params: { info: 'subscription_count' } })).json();
      assert.deepEqual(empty, { occupied: false, subscription_count: 0 });
    });

    test(`encrypted channels: the SDK encrypts with the master key, pusher-js decrypts with the shared secret from authorizeChannel [${label}]`, async (t) => {
      const client = pusherClient(server());
      t.after(() => client.disconnect());
      await connected(client);
      const name = `private-encrypted-${uniqueChannel('vault').replace(/\./g, '-')}`;
      const { channel } = await subscribed(client!, name);
      const log = new EventLog((handler) => channel.bind('secret', handler));
      await sdkFor(server()).trigger(name, 'secret', { pin: 1234 });
      assert.deepEqual(await log.count(1), [{ pin: 1234 }]);
    });

    test(`user authentication: signin, sendToUser on every connection of the user, terminateUserConnections closes them with 4009 [${label}]`, async (t) => {
      const user = { id: `user-${workers}` };
      const clients = await spreadClients(server(), workers, 2, () => pusherClient(server(), { user }), t);
      const logs = await Promise.all(
        clients.map(async (client) => {
          client.signin();
          await client.user.signinDonePromise;
          const own = client.user.serverToUserChannel!;
          if (!own.subscribed) await new Promise<void>((resolve) => own.bind('pusher:subscription_succeeded', () => resolve()));
          return new EventLog((handler) => client.user.bind('notice', handler));
        }),
      );
      const sdk = sdkFor(server());
      await sdk.sendToUser(user.id, 'notice', { text: 'hello' });
      for (const log of logs) assert.deepEqual(await log.count(1), [{ text: 'hello' }]);
      const errors = clients.map((client) => new EventLog<{ data?: { code?: number } }>((handler) => client.connection.bind('error', handler)));
      await sdk.terminateUserConnections(user.id);
      for (const log of errors) {
        const [error] = await log.count(1);
        assert.equal(error?.data?.code, 4009);
      }
      await Promise.all(clients.map((client) => new Promise<void>((resolve) => (client.connection.state !== 'connected' ? resolve() : client.connection.bind('state_change', () => resolve())))));
    });
  });
}

test('pusher-js and the native protocol share one port: native frames never reach Pusher channels of the same name', async (t) => {
  const { startServer } = await import('./helpers/server.js');
  const { FrameClient } = await import('./helpers/frame-client.js');
  const server = await startServer(['--pusher-app', APP_FLAG], t);
  const client = pusherClient(server);
  t.after(() => client.disconnect());
  await connected(client);
  const { channel } = await subscribed(client, 'orders');
  const log = new EventLog((handler) => channel.bind_global((event: string, data: unknown) => handler({ event, data })));
  const native = await FrameClient.connect(server.url);
  t.after(() => native.close());
  native.send({ action: 'channel-connect', channel: 'orders' });
  native.send({ action: 'broadcast-action', data: 'native only' });
  native.send({ action: 'fanout-action', data: 'everyone native' });
  await native.next((f) => f.includes('everyone native'));
  await sdkFor(server).trigger('orders', 'from-sdk', 'pusher only');
  const [only] = await log.count(1);
  assert.deepEqual(only, { event: 'from-sdk', data: 'pusher only' });
  assert.ok(!native.frames.some((f) => f.includes('pusher only')), 'the native client heard nothing of Pusher');
});
