import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BroadcastScript } from './helpers/broadcast-script.js';
import { Fleet, TOPOLOGIES, sharedServer, uniqueChannel } from './helpers/conformance.js';
import type { FrameClient } from './helpers/frame-client.js';

const MAX_MEMBERS = 3;

for (const topology of TOPOLOGIES) {
  describe(`presence, ${topology.label}`, () => {
    const server = sharedServer([...topology.flags, '--presence', '--presence-max-members', String(MAX_MEMBERS)]);
    const presence = { presence: { maxMembers: MAX_MEMBERS } };

    test(`on join every member, the joiner included, gets channel-connect presence: no top-level fd, data a JSON string with fds across workers and userIds ({} when none) [${topology.label}]`, async (t) => {
      const fleet = new Fleet(server(), topology, t);
      const clients = await fleet.spread(5);
      const [m1, m2, m3, elsewhere, lobby] = clients as [FrameClient, FrameClient, FrameClient, FrameClient, FrameClient];
      const script = new BroadcastScript(clients, presence);
      const room = uniqueChannel('chat.room');
      const mark = m1.frames.length;
      await script.join(m1, room);
      // The wire form, byte for byte: userIds is an object even when empty (PHP prints []).
      assert.equal(m1.frames[mark], `{"action":"channel-connect","data":"{\\"fd\\":${m1.fd},\\"event\\":\\"channel-presence\\",\\"channel\\":\\"${room}\\",\\"fds\\":[${m1.fd}],\\"userIds\\":{}}"}`);
      // User ids are kept as sent: an integer stays an integer, a string a string.
      await script.assoc(m2, 7);
      await script.join(m2, room);
      await script.assoc(m3, 'user-three');
      await script.join(m3, room);
      await script.join(elsewhere, uniqueChannel('chat.other'));
      for (const sender of clients) await script.broadcast(sender, `from ${sender.fd}`);
      script.verify();
      const last = m1.frames.find((f) => f.includes(`\\"fd\\":${m3.fd},\\"event\\"`))!;
      assert.deepEqual(JSON.parse((JSON.parse(last) as { data: string }).data).userIds, { [m2.fd]: 7, [m3.fd]: 'user-three' });
      // Channel-less sockets and other channels hear nothing of it.
      assert.ok(!lobby.frames.some((f) => f.includes('channel-presence')));
      assert.ok(!elsewhere.frames.some((f) => f.includes(`\\"channel\\":\\"${room}\\"`)));
    });

    test(`on channel-disconnect and on close the remaining members get the same frame as channel-disconnect, data.fd the socket that left; the leaver gets none [${topology.label}]`, async (t) => {
      const fleet = new Fleet(server(), topology, t);
      const clients = await fleet.spread(4);
      const [a, b, c, lobby] = clients as [FrameClient, FrameClient, FrameClient, FrameClient];
      const script = new BroadcastScript(clients, presence);
      const room = uniqueChannel('leave.room');
      await script.join(a, room);
      await script.assoc(b, 42);
      await script.join(b, room);
      await script.join(c, room);
      // An id associated after joining shows in the next presence frame.
      await script.assoc(a, 'alice');
      await script.leave(b);
      await script.broadcast(lobby, 'b is channel-less now');
      // Rejoining: the socket keeps its user id.
      await script.join(b, room);
      await script.close(c);
      for (const sender of [a, b, lobby]) await script.broadcast(sender, `after the close, from ${sender.fd}`);
      await script.leave(a);
      // The last member leaving: nobody is left to hear it.
      await script.leave(b);
      await script.broadcast(lobby, 'all channel-less');
      script.verify();
    });

    test(`moving to another channel is a channel-disconnect for the old channel's members and a channel-connect for the new one's [${topology.label}]`, async (t) => {
      const fleet = new Fleet(server(), topology, t);
      const clients = await fleet.spread(4);
      const [mover, stayer, host, guest] = clients as [FrameClient, FrameClient, FrameClient, FrameClient];
      const script = new BroadcastScript(clients, presence);
      const from = uniqueChannel('move.from');
      const to = uniqueChannel('move.to');
      await script.join(stayer, from);
      await script.join(mover, from);
      await script.join(host, to);
      await script.join(guest, to);
      await script.assoc(mover, 99);
      await script.join(mover, to);
      for (const sender of clients) await script.broadcast(sender, `from ${sender.fd}`);
      script.verify();
    });

    test(`above --presence-max-members members get counts only, and full lists again below it [${topology.label}]`, async (t) => {
      const fleet = new Fleet(server(), topology, t);
      const clients = await fleet.spread(5);
      const members = clients.slice(0, 4);
      const script = new BroadcastScript(clients, presence);
      const room = uniqueChannel('crowd');
      for (const member of members) await script.join(member, room);
      const fourth = members[3]!;
      const counted = fourth.frames.find((f) => f.includes('"count'))!;
      assert.equal(counted, `{"action":"channel-connect","data":"{\\"fd\\":${fourth.fd},\\"event\\":\\"channel-presence\\",\\"channel\\":\\"${room}\\",\\"count\\":4}"}`);
      await script.leave(members[0]!);
      await script.close(members[1]!);
      for (const sender of [members[2]!, members[3]!, clients[4]!]) await script.broadcast(sender, `from ${sender.fd}`);
      script.verify();
    });
  });
}
