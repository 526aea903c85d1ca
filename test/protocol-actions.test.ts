import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { BroadcastScript } from './helpers/broadcast-script.js';
import { Fleet, TOPOLOGIES, envelope, framesSince, sharedServer, uniqueChannel, type Topology } from './helpers/conformance.js';
import type { FrameClient } from './helpers/frame-client.js';
import type { RunningServer } from './helpers/server.js';

/**
 * Three clients in one channel, two in another and two in none, spread over the workers;
 * every one of them broadcasts once and every client's whole frame list is checked.
 */
async function broadcastAcrossGroups(server: RunningServer, topology: Topology, t: TestContext, broadcastSelf: boolean): Promise<void> {
  const fleet = new Fleet(server, topology, t);
  // Alternating workers: each group below has members on both workers when there are two.
  const clients = await fleet.spread(7);
  const [a1, a2, a3, b1, b2, l1, l2] = clients as [FrameClient, FrameClient, FrameClient, FrameClient, FrameClient, FrameClient, FrameClient];
  const script = new BroadcastScript(clients, { broadcastSelf });
  const chatA = uniqueChannel('chat.a');
  const chatB = uniqueChannel('chat.b');
  for (const client of [a1, a2, a3]) await script.join(client, chatA);
  for (const client of [b1, b2]) await script.join(client, chatB);
  let n = 0;
  for (const sender of clients) await script.broadcast(sender, { n: n++, text: `from ${sender.fd}`, list: [1, 'two', null] });
  script.verify();
}

for (const topology of TOPOLOGIES) {
  describe(`native actions, ${topology.label}`, () => {
    const server = sharedServer(topology.flags);

    test(`connection-info is the one frame after the handshake, data encoded twice, no top-level fd; fds are unique across workers and never reused [${topology.label}]`, async (t) => {
      const fleet = new Fleet(server(), topology, t);
      const first = await fleet.spread(4);
      for (const client of first) {
        assert.ok(Number.isInteger(client.fd) && client.fd > 0, `fd ${client.fd}`);
        assert.equal(client.frames[0], `{"action":"connection-info","data":"{\\"fd\\":${client.fd},\\"event\\":\\"connection-info\\"}"}`);
        await client.barrier('after-connect');
        assert.deepEqual(client.frames, [client.frames[0], envelope('base-action', 'after-connect', client.fd)]);
      }
      assert.equal(new Set(first.map((c) => c.fd)).size, first.length, 'fds are unique');
      for (const client of first.slice(0, 2)) await fleet.close(client);
      const second = await fleet.spread(4);
      const seen = new Set(first.map((c) => c.fd));
      for (const client of second) {
        assert.ok(!seen.has(client.fd), `fd ${client.fd} was reused`);
        seen.add(client.fd);
      }
    });

    test(`the handshake echoes the requested subprotocol, and the protocol is native whatever was requested [${topology.label}]`, async (t) => {
      const fleet = new Fleet(server(), topology, t);
      for (const protocol of ['socketconveyor.com', 'x-some-other-protocol']) {
        const client = await fleet.connect({ protocol });
        assert.equal(client.ws.protocol, protocol);
        assert.equal(client.frames[0], `{"action":"connection-info","data":"{\\"fd\\":${client.fd},\\"event\\":\\"connection-info\\"}"}`);
      }
      const none = await fleet.connect({ protocol: [] });
      assert.equal(none.ws.protocol, '');
      assert.equal(none.frames[0], envelope('connection-info', JSON.stringify({ fd: none.fd, event: 'connection-info' })));
    });

    test(`base-action is answered to the sender only, with its fd, data keeping its JSON type [${topology.label}]`, async (t) => {
      const fleet = new Fleet(server(), topology, t);
      const [sender, other] = (await fleet.spread(2)) as [FrameClient, FrameClient];
      const values: unknown[] = ['text', '', 0, 42, -3.5, true, false, { nested: { list: [1, 'two', null] } }, [1, [2, [3]]], 'üñí € 😀', 'with "quotes" and \\'];
      const mark = sender.frames.length;
      const otherMark = other.frames.length;
      for (const data of values) {
        sender.send({ action: 'base-action', data });
        assert.equal(await sender.next(), envelope('base-action', data, sender.fd));
      }
      assert.equal(framesSince(sender, mark)[3], `{"action":"base-action","data":42,"fd":${sender.fd}}`);
      // Both are channel-less: an echo published by mistake would reach `other` ahead of this broadcast.
      sender.send({ action: 'broadcast-action', data: 'done' });
      await other.next((f) => f.includes('"done"'));
      assert.deepEqual(framesSince(other, otherMark), [envelope('broadcast-action', 'done', sender.fd)]);
    });

    test(`a text frame that is not a JSON object (plain text, a JSON string or number) is echoed as a base-action with the raw text [${topology.label}]`, async (t) => {
      const fleet = new Fleet(server(), topology, t);
      const [sender, other] = (await fleet.spread(2)) as [FrameClient, FrameClient];
      const otherMark = other.frames.length;
      sender.send('hello conveyor');
      assert.equal(await sender.next(), `{"action":"base-action","data":"hello conveyor","fd":${sender.fd}}`);
      for (const text of ['"a JSON string"', '42', '-1.5e3', 'true', 'null', '{not json', 'plain text with "quotes"']) {
        sender.send(text);
        assert.equal(await sender.next(), envelope('base-action', text, sender.fd));
      }
      sender.send({ action: 'broadcast-action', data: 'done' });
      await other.next((f) => f.includes('"done"'));
      assert.deepEqual(framesSince(other, otherMark), [envelope('broadcast-action', 'done', sender.fd)]);
    });

    test(`the client's 2-byte binary heartbeat (0x89 0x00) gets no answer [${topology.label}]`, async (t) => {
      const fleet = new Fleet(server(), topology, t);
      const [client, other] = (await fleet.spread(2)) as [FrameClient, FrameClient];
      const mark = client.frames.length;
      const otherMark = other.frames.length;
      for (let i = 0; i < 3; i++) client.ws.send(Buffer.from([0x89, 0x00]), { binary: true });
      await client.barrier('after-heartbeats');
      client.send({ action: 'broadcast-action', data: 'still here' });
      await other.next((f) => f.includes('"still here"'));
      assert.deepEqual(framesSince(client, mark), [envelope('base-action', 'after-heartbeats', client.fd)]);
      assert.deepEqual(framesSince(other, otherMark), [envelope('broadcast-action', 'still here', client.fd)]);
      assert.equal(client.closeCode, undefined);
    });

    test(`broadcast-action reaches the other members of the sender's channel with the sender's fd, and channel-less senders reach the other channel-less sockets [${topology.label}]`, async (t) => {
      await broadcastAcrossGroups(server(), topology, t, false);
    });

    test(`fanout-action reaches every open socket, in a channel or not, the sender included [${topology.label}]`, async (t) => {
      const fleet = new Fleet(server(), topology, t);
      const clients = await fleet.spread(4);
      const [c1, c2, c3] = clients as [FrameClient, FrameClient, FrameClient, FrameClient];
      const script = new BroadcastScript(clients);
      const room = uniqueChannel('fan');
      await script.join(c1, room);
      await script.join(c2, room);
      await script.join(c3, uniqueChannel('fan.other'));
      const marks = clients.map((c) => c.frames.length);
      const payloads: unknown[] = ['text', 7, { deep: [true, null] }, [1, 2]];
      for (const [i, sender] of clients.entries()) {
        sender.send({ action: 'fanout-action', data: payloads[i] });
        const frame = envelope('fanout-action', payloads[i], sender.fd);
        await Promise.all(clients.map((c) => c.next((f) => f === frame)));
      }
      const expected = clients.map((sender, i) => envelope('fanout-action', payloads[i], sender.fd));
      clients.forEach((client, i) => assert.deepEqual(client.frames.slice(marks[i]), expected, `client #${i}`));
      assert.equal(expected[1], `{"action":"fanout-action","data":7,"fd":${c2.fd}}`);
    });

    test(`one channel per socket: channel-connect to another channel leaves the first, channel-disconnect makes the socket channel-less, neither answers [${topology.label}]`, async (t) => {
      const fleet = new Fleet(server(), topology, t);
      const clients = await fleet.spread(4);
      const [mover, a, b, lobby] = clients as [FrameClient, FrameClient, FrameClient, FrameClient];
      const script = new BroadcastScript(clients);
      const chanA = uniqueChannel('one.a');
      const chanB = uniqueChannel('one.b');
      await script.join(a, chanA);
      await script.join(b, chanB);
      await script.join(mover, chanA);
      // Joining the channel it is already in changes nothing.
      await script.join(mover, chanA);
      for (const sender of clients) await script.broadcast(sender, `in A from ${sender.fd}`);
      await script.join(mover, chanB);
      for (const sender of clients) await script.broadcast(sender, `in B from ${sender.fd}`);
      await script.leave(mover);
      for (const sender of clients) await script.broadcast(sender, `channel-less from ${sender.fd}`);
      // Leaving when in no channel is a no-op, also without an answer.
      await script.leave(mover);
      await script.broadcast(mover, 'still channel-less');
      script.verify();
    });

    test(`channel-connect with "auth": null joins when the server has no token (the JS client always sends auth) [${topology.label}]`, async (t) => {
      const fleet = new Fleet(server(), topology, t);
      const clients = await fleet.spread(2);
      const [joiner, member] = clients as [FrameClient, FrameClient];
      const script = new BroadcastScript(clients);
      const room = uniqueChannel('nullauth');
      await script.join(member, room);
      await script.join(joiner, room, { auth: null });
      await script.broadcast(joiner, 'joined with null auth');
      await script.broadcast(member, 'and hears the channel');
      script.verify();
    });

    test(`acknowledge-action and assoc-user-to-fd-action get no answer [${topology.label}]`, async (t) => {
      const fleet = new Fleet(server(), topology, t);
      const [client, other] = (await fleet.spread(2)) as [FrameClient, FrameClient];
      const mark = client.frames.length;
      const otherMark = other.frames.length;
      client.send({ action: 'acknowledge-action', data: 'an-id-never-sent' });
      client.send({ action: 'assoc-user-to-fd-action', userId: 42 });
      client.send({ action: 'assoc-user-to-fd-action', userId: 'user-42' });
      await client.barrier('after-silent-actions');
      client.send({ action: 'broadcast-action', data: 'after' });
      await other.next((f) => f.includes('"after"'));
      assert.deepEqual(framesSince(client, mark), [envelope('base-action', 'after-silent-actions', client.fd)]);
      assert.deepEqual(framesSince(other, otherMark), [envelope('broadcast-action', 'after', client.fd)]);
    });
  });

  describe(`broadcast-action with --broadcast-self, ${topology.label}`, () => {
    const server = sharedServer([...topology.flags, '--broadcast-self']);

    test(`with --broadcast-self the sender receives its own broadcast too, in a channel and channel-less [${topology.label}]`, async (t) => {
      await broadcastAcrossGroups(server(), topology, t, true);
    });
  });
}
