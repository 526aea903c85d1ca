import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { BroadcastScript } from './helpers/broadcast-script.js';
import { Fleet, PinnedHttp, TOPOLOGIES, awaitFrame, envelope, framesSince, health, sharedServer, uniqueChannel, type Topology } from './helpers/conformance.js';
import type { FrameClient } from './helpers/frame-client.js';
import type { RunningServer } from './helpers/server.js';

/** What the 404 names on a server with no history, dashboard, demo or Pusher app: every endpoint it mounts. */
const NOT_FOUND = 'Not found. Endpoints: GET /ready, GET /health, GET /metrics, POST /conveyor/auth, POST /conveyor/message, and the WebSocket upgrade on any path.';

/**
 * Clients in a channel (on every worker), one in another channel and one in none, plus
 * HTTP pinned to one worker and a client on that same worker whose fanout follows the
 * HTTP publications on their way to everyone: after it, a stray frame would have arrived.
 */
async function audience(server: RunningServer, topology: Topology, t: TestContext) {
  const fleet = new Fleet(server, topology, t);
  const http = new PinnedHttp(server);
  t.after(() => http.close());
  const clients = await fleet.spread(5);
  const [m1, m2, m3, other, lobby] = clients as [FrameClient, FrameClient, FrameClient, FrameClient, FrameClient];
  const room = uniqueChannel('orders');
  const otherRoom = uniqueChannel('orders.other');
  for (const [client, channel] of [[m1, room], [m2, room], [m3, room], [other, otherRoom]] as const) {
    client.send({ action: 'channel-connect', channel });
    await client.barrier();
  }
  const httpWorker = await http.worker();
  const marker = clients.find((c) => fleet.workerOf(c) === httpWorker)!;
  const marks = clients.map((c) => c.frames.length);
  let step = 0;
  /** Fans out from the HTTP worker and returns each client's frames since the start, marker excluded. */
  const settle = async (): Promise<string[][]> => {
    const data = `http-marker-${++step}`;
    marker.send({ action: 'fanout-action', data });
    const frame = envelope('fanout-action', data, marker.fd);
    await Promise.all(clients.map((c, i) => awaitFrame(c, (f) => f === frame, marks[i])));
    return clients.map((c, i) => framesSince(c, marks[i]!).filter((f) => !f.includes('"http-marker-')));
  };
  return { fleet, http, clients, members: [m1, m2, m3], room, otherRoom, settle };
}

for (const topology of TOPOLOGIES) {
  describe(`HTTP endpoints, ${topology.label}`, () => {
    const server = sharedServer(topology.flags);

    test(`POST /conveyor/auth on a server without --token answers 400 and mints nothing: a temporary token would admit nothing [${topology.label}]`, async (t) => {
      const http = new PinnedHttp(server());
      t.after(() => http.close());
      const refused = { status: 400, body: { error: 'Temporary tokens need a server token: start the server with --token to use POST /conveyor/auth.' } };
      for (const body of [{ channel: 'orders.1' }, {}]) assert.deepEqual(await http.json('POST', '/conveyor/auth', body), refused);
      const { temporaryTokens } = (await http.json('GET', '/health')).body as { temporaryTokens: number };
      assert.equal(temporaryTokens, 0);
    });

    test(`POST /conveyor/message answers 200 {"success":"Message sent successfully!"} and every member on every worker gets {"action":"broadcast-action","data":…} without fd; nobody else does [${topology.label}]`, async (t) => {
      const { http, clients, room, settle } = await audience(server(), topology, t);
      const messages = ['order 1 shipped', 'He said "hi" — ✓ \\ done'];
      for (const message of messages) {
        assert.deepEqual(await http.json('POST', '/conveyor/message', { channel: room, message }), { status: 200, body: { success: 'Message sent successfully!' } });
      }
      const received = await settle();
      const expected = messages.map((message) => JSON.stringify({ action: 'broadcast-action', data: message }));
      assert.equal(expected[0], '{"action":"broadcast-action","data":"order 1 shipped"}');
      assert.deepEqual(received, [expected, expected, expected, [], []]);
      assert.equal(clients.length, 5);
    });

    test(`POST /conveyor/message to a channel with no member answers 404 {"error":"Channel not found!"} [${topology.label}]`, async (t) => {
      const { http, fleet, members, room, settle } = await audience(server(), topology, t);
      const notFound = { status: 404, body: { error: 'Channel not found!' } };
      assert.deepEqual(await http.json('POST', '/conveyor/message', { channel: uniqueChannel('never-used'), message: 'hello?' }), notFound);
      // A channel whose members all left has no member either.
      for (const member of members) {
        member.send({ action: 'channel-disconnect' });
        await member.barrier('left');
      }
      await fleet.settled();
      assert.deepEqual(await http.json('POST', '/conveyor/message', { channel: room, message: 'anyone?' }), notFound);
      const left = members.map((m) => [envelope('base-action', 'left', m.fd)]);
      assert.deepEqual(await settle(), [...left, [], []]);
    });

    test(`POST /conveyor/message without a non-empty message answers 400 {"error":"Invalid message!"} and sends nothing [${topology.label}]`, async (t) => {
      const { http, room, settle } = await audience(server(), topology, t);
      for (const body of [{ channel: room }, { channel: room, message: '' }, { channel: room, message: null }]) {
        assert.deepEqual(await http.json('POST', '/conveyor/message', body), { status: 400, body: { error: 'Invalid message!' } }, JSON.stringify(body));
      }
      assert.deepEqual(await settle(), [[], [], [], [], []]);
    });

    test(`any other request answers 404 with a JSON body [${topology.label}]`, async (t) => {
      const http = new PinnedHttp(server());
      t.after(() => http.close());
      for (const [method, path] of [
        ['GET', '/'],
        ['GET', '/nope'],
        ['GET', '/conveyor/auth'],
        ['GET', '/conveyor/message'],
        ['PUT', '/conveyor/message'],
        ['POST', '/conveyor'],
        ['POST', '/conveyor/auth/extra'],
        ['DELETE', '/health'],
      ] as const) {
        assert.deepEqual(await http.json(method, path, method === 'GET' ? undefined : '{}'), { status: 404, body: { error: NOT_FOUND, path } }, `${method} ${path}`);
      }
      // A browser's favicon request is answered, empty, rather than logged as a 404 on every page.
      const favicon = await fetch(`${server().httpUrl}/favicon.ico`);
      assert.equal(favicon.status, 204);
    });

    test(`GET /health reports the open sockets per worker, channels with members, and which worker answered [${topology.label}]`, async (t) => {
      const fleet = new Fleet(server(), topology, t);
      const clients = await fleet.spread(4);
      const script = new BroadcastScript(clients);
      await script.join(clients[0]!, uniqueChannel('health'));
      await script.join(clients[1]!, uniqueChannel('health'));
      const report = await health(server());
      assert.equal(report.status, 'ok');
      assert.equal(report.connections, 4);
      assert.equal(report.channels, 2);
      assert.equal(report.workers.length, topology.workers);
      assert.equal(new Set(report.workers.map((w) => w.id)).size, topology.workers);
      assert.ok(report.workers.some((w) => w.id === report.worker), `worker ${report.worker} answered`);
      for (const worker of report.workers) {
        assert.ok(Number.isInteger(worker.pid) && worker.pid > 0);
        assert.equal(worker.connections, clients.filter((c) => fleet.workerOf(c) === worker.id).length, `worker ${worker.id}`);
        // Both workers have sockets: the frames of the tests above really crossed between them.
        assert.ok(worker.connections >= 2);
      }
      await fleet.close(clients[0]!);
      const after = await health(server());
      assert.equal(after.connections, 3);
      assert.equal(after.channels, 1);
    });
  });
}
