import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Fleet, PinnedHttp, TOPOLOGIES, awaitFrame, envelope, idOf, sharedServer, uniqueChannel } from './helpers/conformance.js';
import { canonicalPresence } from './helpers/broadcast-script.js';
import type { FrameClient } from './helpers/frame-client.js';
import type { RunningServer } from './helpers/server.js';

const ATTEMPTS = 3;
const TIMEOUT_S = 0.3;

/** How many times `client` received exactly `frame`. */
function deliveries(client: FrameClient, frame: string): number {
  return client.frames.filter((f) => f === frame).length;
}

/**
 * Resolves once each worker has given up message `id` for the recipients that never
 * acknowledged it. The give-up is the last thing a message's timer does, so after it no
 * re-send can still come; each worker logs it with the number of recipients it gave up.
 */
async function givenUp(server: RunningServer, id: string, recipientsPerWorker: Map<number, number>): Promise<void> {
  await Promise.all(
    [...recipientsPerWorker].map(async ([worker, recipients]) => {
      const line = await server.waitForLog((l) => l['msg'] === 'acknowledgment given up' && l['id'] === id && l['worker'] === worker);
      assert.equal(line['recipients'], recipients, `worker ${worker} gave up message ${id} for ${recipients} recipient(s)`);
    }),
  );
}

/** Joins each client in turn, waiting for its own presence frame, so that no two joins overlap. */
async function joinAll(clients: readonly FrameClient[], channel: string): Promise<void> {
  for (const client of clients) {
    const mark = client.frames.length;
    client.send({ action: 'channel-connect', channel });
    await awaitFrame(client, (f) => f.startsWith('{"action":"channel-connect"') && f.includes(`\\"fd\\":${client.fd},`), mark);
  }
}

for (const topology of TOPOLOGIES) {
  describe(`acknowledgments, ${topology.label}`, () => {
    const server = sharedServer([...topology.flags, '--ack', '--ack-attempts', String(ATTEMPTS), '--ack-timeout', String(TIMEOUT_S), '--presence']);

    test(`connection-info carries an id too, and ids are unique across workers [${topology.label}]`, async (t) => {
      const fleet = new Fleet(server(), topology, t);
      const clients = await fleet.spread(4, { acknowledges: true });
      const ids = clients.map((client) => {
        const id = idOf(client.frames[0]!);
        assert.equal(client.frames[0], `{"action":"connection-info","data":"{\\"fd\\":${client.fd},\\"event\\":\\"connection-info\\"}","id":${JSON.stringify(id)}}`);
        return id;
      });
      assert.equal(new Set(ids).size, ids.length, `ids ${ids.join(', ')}`);
    });

    test(`every pushed frame ends with an id: answers, broadcasts, fanouts, presence, errors and HTTP messages; equal frames get different ids [${topology.label}]`, async (t) => {
      const fleet = new Fleet(server(), topology, t);
      const [a, b] = (await fleet.spread(2, { acknowledges: true })) as [FrameClient, FrameClient];
      const room = uniqueChannel('ids');
      await joinAll([a, b], room);
      const presence = b.frames.find((f) => f.includes(`\\"fd\\":${b.fd},`) && f.startsWith('{"action":"channel-connect"'))!;
      // Member order is not part of the contract: compared in ascending fd order.
      assert.equal(canonicalPresence(presence), `{"action":"channel-connect","data":${JSON.stringify(JSON.stringify({ fd: b.fd, event: 'channel-presence', channel: room, fds: [a.fd, b.fd].sort((x, y) => x - y), userIds: {} }))},"id":${JSON.stringify(idOf(presence))}}`);

      const seen: string[] = [idOf(presence)];
      const expectOne = async (client: FrameClient, mark: number, build: (id: string) => string, match: (f: string) => boolean): Promise<string> => {
        const frame = await awaitFrame(client, match, mark);
        const id = idOf(frame);
        assert.equal(frame, build(id));
        return id;
      };
      let mark = a.frames.length;
      a.send({ action: 'base-action', data: 'echo me' });
      seen.push(await expectOne(a, mark, (id) => envelope('base-action', 'echo me', a.fd, id), (f) => f.includes('"echo me"')));

      mark = a.frames.length;
      a.send({ action: 'base-action' });
      seen.push(await expectOne(a, mark, (id) => envelope('base-action', "BaseAction required 'data' field to be created!", a.fd, id), (f) => f.includes('required')));

      mark = a.frames.length;
      a.send('[]');
      seen.push(await expectOne(a, mark, (id) => envelope('error', 'Frame must be a JSON object with a string "action"; got a JSON array.', a.fd, id), (f) => f.startsWith('{"action":"error"')));

      // Two equal broadcasts in the same second, from each worker: four different ids.
      for (const sender of [a, b]) {
        const receiver = sender === a ? b : a;
        for (let i = 0; i < 2; i++) {
          mark = receiver.frames.length;
          sender.send({ action: 'broadcast-action', data: 'same' });
          seen.push(await expectOne(receiver, mark, (id) => envelope('broadcast-action', 'same', sender.fd, id), (f) => f.includes('"same"')));
        }
      }

      const marks = [a.frames.length, b.frames.length];
      b.send({ action: 'fanout-action', data: 'to all' });
      const fanoutIds = await Promise.all([a, b].map((c, i) => expectOne(c, marks[i]!, (id) => envelope('fanout-action', 'to all', b.fd, id), (f) => f.includes('"to all"'))));
      assert.equal(fanoutIds[0], fanoutIds[1], 'one message, one id for all its recipients');
      seen.push(fanoutIds[0]!);

      const httpMarks = [a.frames.length, b.frames.length];
      const http = new PinnedHttp(server());
      t.after(() => http.close());
      assert.deepEqual(await http.json('POST', '/conveyor/message', { channel: room, message: 'from http' }), { status: 200, body: { success: 'Message sent successfully!' } });
      const httpIds = await Promise.all([a, b].map((c, i) => expectOne(c, httpMarks[i]!, (id) => `{"action":"broadcast-action","data":"from http","id":${JSON.stringify(id)}}`, (f) => f.includes('"from http"'))));
      assert.equal(httpIds[0], httpIds[1]);
      seen.push(httpIds[0]!);

      assert.equal(new Set(seen).size, seen.length, `ids ${seen.join(', ')}`);
    });

    test(`a client frame that carries an id is answered first with {"action":"acknowledge-action","data":id}, then acted on [${topology.label}]`, async (t) => {
      const fleet = new Fleet(server(), topology, t);
      const [client, peer] = (await fleet.spread(2, { acknowledges: true })) as [FrameClient, FrameClient];
      const room = uniqueChannel('client-ids');
      await joinAll([peer], room);

      let mark = client.frames.length;
      client.send({ action: 'base-action', data: 'with id', id: 'c-1' });
      const echo = await awaitFrame(client, (f) => f.includes('"with id"'), mark);
      assert.deepEqual(client.frames.slice(mark), ['{"action":"acknowledge-action","data":"c-1"}', envelope('base-action', 'with id', client.fd, idOf(echo))]);

      mark = client.frames.length;
      client.send({ action: 'channel-connect', channel: room, id: 'c-2' });
      const joined = await awaitFrame(client, (f) => f.startsWith('{"action":"channel-connect"'), mark);
      assert.equal(client.frames[mark], '{"action":"acknowledge-action","data":"c-2"}');
      assert.equal(client.frames[mark + 1], joined);

      mark = client.frames.length;
      const peerMark = peer.frames.length;
      client.send({ action: 'broadcast-action', data: 'acked broadcast', id: 'c-3' });
      const received = await awaitFrame(peer, (f) => f.includes('"acked broadcast"'), peerMark);
      assert.equal(received, envelope('broadcast-action', 'acked broadcast', client.fd, idOf(received)));
      await client.barrier('after-broadcast');
      assert.deepEqual(client.frames.slice(mark, mark + 1), ['{"action":"acknowledge-action","data":"c-3"}']);
      assert.ok(!client.frames.slice(mark).some((f) => f.includes('"acked broadcast"')), 'the sender does not get its broadcast');

      mark = client.frames.length;
      client.send({ action: 'base-action', id: 'c-4' });
      const refused = await awaitFrame(client, (f) => f.includes('required'), mark);
      assert.deepEqual(client.frames.slice(mark), ['{"action":"acknowledge-action","data":"c-4"}', envelope('base-action', "BaseAction required 'data' field to be created!", client.fd, idOf(refused))]);
    });

    test(`a recipient that never acknowledges gets the same frame, same id, exactly --ack-attempts more times; one that always does gets it once [${topology.label}]`, async (t) => {
      const fleet = new Fleet(server(), topology, t);
      // Workers alternate: with two, each has an acknowledging and a silent recipient.
      const clients = await fleet.spread(5);
      const [sender, acker1, acker2, silent1, silent2] = clients as [FrameClient, FrameClient, FrameClient, FrameClient, FrameClient];
      for (const client of [sender, acker1, acker2]) client.acknowledges = true;
      const silent = [silent1, silent2];
      const room = uniqueChannel('acks');
      await joinAll(clients, room);
      const silentPerWorker = new Map<number, number>();
      for (const client of silent) silentPerWorker.set(fleet.workerOf(client), (silentPerWorker.get(fleet.workerOf(client)) ?? 0) + 1);

      const marks = clients.map((c) => c.frames.length);
      sender.send({ action: 'broadcast-action', data: 'tracked broadcast' });
      const first = await awaitFrame(acker1, (f) => f.includes('"tracked broadcast"'), marks[1]);
      const broadcastId = idOf(first);
      const broadcast = envelope('broadcast-action', 'tracked broadcast', sender.fd, broadcastId);
      assert.equal(first, broadcast);
      for (const client of silent) await awaitFrame(client, (f) => f === broadcast, marks[clients.indexOf(client)], ATTEMPTS);
      await givenUp(server(), broadcastId, silentPerWorker);

      sender.send({ action: 'fanout-action', data: 'tracked fanout' });
      const fanoutFirst = await awaitFrame(sender, (f) => f.includes('"tracked fanout"'), marks[0]);
      const fanout = envelope('fanout-action', 'tracked fanout', sender.fd, idOf(fanoutFirst));
      for (const client of silent) await awaitFrame(client, (f) => f === fanout, marks[clients.indexOf(client)], ATTEMPTS);
      await givenUp(server(), idOf(fanoutFirst), silentPerWorker);

      // Everything sent before a barrier's answer has arrived: the counts are final.
      for (const client of clients) await client.barrier('counted');
      for (const client of silent) {
        assert.equal(deliveries(client, broadcast), 1 + ATTEMPTS, `silent fd ${client.fd}: broadcast deliveries`);
        assert.equal(deliveries(client, fanout), 1 + ATTEMPTS, `silent fd ${client.fd}: fanout deliveries`);
      }
      for (const client of [acker1, acker2]) {
        assert.equal(deliveries(client, broadcast), 1, `acknowledging fd ${client.fd}: broadcast deliveries`);
        assert.equal(deliveries(client, fanout), 1, `acknowledging fd ${client.fd}: fanout deliveries`);
      }
      assert.equal(deliveries(sender, broadcast), 0, 'the sender is not a recipient of its broadcast');
      assert.equal(deliveries(sender, fanout), 1, 'the sender is a recipient of its fanout, and acknowledged it');
    });

    test(`re-sends to a recipient stop at once when it acknowledges or closes, while they go on for the others [${topology.label}]`, async (t) => {
      const fleet = new Fleet(server(), topology, t);
      // Clients 0, 2 and 4 share a worker, so one timer drives all three; the sender is on the other.
      const clients = await fleet.spread(5);
      const [late, sender, closer, bystander, silent] = clients as [FrameClient, FrameClient, FrameClient, FrameClient, FrameClient];
      for (const client of [sender, bystander]) client.acknowledges = true;
      const room = uniqueChannel('stop');
      await joinAll(clients, room);
      const marks = clients.map((c) => c.frames.length);

      sender.send({ action: 'broadcast-action', data: 'stop me' });
      const first = await awaitFrame(late, (f) => f.includes('"stop me"'), marks[0]);
      const id = idOf(first);
      await awaitFrame(closer, (f) => f === first, marks[2]);
      closer.close();
      // Acknowledged only after one re-send came.
      await awaitFrame(late, (f) => f === first, marks[0], 1);
      late.send({ action: 'acknowledge-action', data: id });
      const atAck = deliveries(late, first);
      // When the worker gives the message up, only the silent recipient is left pending.
      await givenUp(server(), id, new Map([[fleet.workerOf(late), 1]]));
      await late.barrier('after-give-up');
      await silent.barrier('after-give-up');
      assert.equal(deliveries(silent, first), 1 + ATTEMPTS);
      // One re-send may have been on its way when the acknowledgment left.
      assert.ok(deliveries(late, first) <= atAck + 1, `late acknowledger got ${deliveries(late, first)} deliveries, ${atAck} before acknowledging`);
      assert.equal(deliveries(bystander, first), 1);
    });

    test(`a recipient acknowledging in order, slower than --ack-timeout, is not re-sent what it has not reached yet [${topology.label}]`, async (t) => {
      const fleet = new Fleet(server(), topology, t);
      const clients = await fleet.spread(2);
      const [sender, slow] = clients as [FrameClient, FrameClient];
      sender.acknowledges = true;
      const room = uniqueChannel('slow-reader');
      await joinAll(clients, room);
      const mark = slow.frames.length;
      const texts = Array.from({ length: 8 }, (_, i) => `slow ${i}`);
      for (const text of texts) sender.send({ action: 'broadcast-action', data: text });
      const frames = await Promise.all(texts.map((text) => awaitFrame(slow, (f) => f.includes(`"${text}"`), mark)));
      // A reader that gets through one frame every third of the timeout: the last is acknowledged
      // long after every frame's first re-send was due.
      for (const frame of frames) {
        slow.send({ action: 'acknowledge-action', data: idOf(frame) });
        await new Promise((resolve) => setTimeout(resolve, (TIMEOUT_S * 1000) / 3));
      }
      await slow.barrier('read');
      for (const frame of frames) assert.equal(deliveries(slow, frame), 1, `${frame} was re-sent to a socket still acknowledging the frames before it`);
    });

    test(`acknowledgments out of order, twice, or of an unknown id stop re-sends of just that message to just that recipient [${topology.label}]`, async (t) => {
      const fleet = new Fleet(server(), topology, t);
      const clients = await fleet.spread(3);
      const [sender, picky, silent] = clients as [FrameClient, FrameClient, FrameClient];
      sender.acknowledges = true;
      const room = uniqueChannel('out-of-order');
      await joinAll(clients, room);
      const marks = clients.map((c) => c.frames.length);

      const texts = ['order 1', 'order 2', 'order 3'];
      for (const text of texts) sender.send({ action: 'broadcast-action', data: text });
      const frames = await Promise.all(texts.map((text) => awaitFrame(picky, (f) => f.includes(`"${text}"`), marks[1])));
      const [id1, id2, id3] = frames.map(idOf) as [string, string, string];
      // The newest first, then the oldest; the middle one never.
      for (const id of [id3, id1, id3, 'no-such-id']) picky.send({ action: 'acknowledge-action', data: id });
      const atAck = frames.map((f) => deliveries(picky, f));

      const perWorker = (recipients: readonly FrameClient[]): Map<number, number> => {
        const counts = new Map<number, number>();
        for (const client of recipients) counts.set(fleet.workerOf(client), (counts.get(fleet.workerOf(client)) ?? 0) + 1);
        return counts;
      };
      await Promise.all([givenUp(server(), id1, perWorker([silent])), givenUp(server(), id2, perWorker([picky, silent])), givenUp(server(), id3, perWorker([silent]))]);
      for (const client of clients) await client.barrier('after-give-up');

      for (const f of frames) assert.equal(deliveries(silent, f), 1 + ATTEMPTS, `silent: ${f}`);
      assert.equal(deliveries(picky, frames[1]!), 1 + ATTEMPTS, 'the message never acknowledged is re-sent every time');
      for (const i of [0, 2]) {
        // One re-send may have been on its way when the acknowledgment left.
        assert.ok(deliveries(picky, frames[i]!) <= atAck[i]! + 1, `${frames[i]}: ${deliveries(picky, frames[i]!)} deliveries, ${atAck[i]} before acknowledging`);
      }
      assert.ok(!picky.frames.slice(marks[1]).some((f) => f.startsWith('{"action":"error"')), 'a duplicate or unknown acknowledgment is not answered');
    });
  });
}
