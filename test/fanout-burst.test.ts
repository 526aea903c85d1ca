import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrameClient } from './helpers/frame-client.js';
import { fetchHealth, placeOnWorkers } from './helpers/server-health.js';
import { startServer } from './helpers/server.js';

/**
 * fanout-action is planned in the task pool; a socket does not wait for one plan before the
 * next frame, so a burst is served in full, and every output of the socket still follows
 * the order of its frames.
 */
test('a burst of 2,000 fanout-actions from one socket reaches every socket on both workers, in order, with a broadcast between them kept in its place', async (t) => {
  const server = await startServer(['--workers', '2'], t);
  const ids = (await fetchHealth(server)).workers.map((w) => w.id).sort((a, b) => a - b);
  const clients = await placeOnWorkers(server, [ids[0]!, ids[0]!, ids[1]!], () => FrameClient.connect(server.url), async (c) => {
    c.close();
    await c.closed;
  });
  t.after(() => clients.forEach((c) => c.close()));
  const [sender, near, far] = clients as [FrameClient, FrameClient, FrameClient];
  for (const client of clients) {
    client.send({ action: 'channel-connect', channel: 'burst-room' });
    await client.barrier();
  }
  for (let i = 0; i < 1000; i++) sender.send({ action: 'fanout-action', data: i });
  sender.send({ action: 'broadcast-action', data: 'between' });
  for (let i = 1000; i < 2000; i++) sender.send({ action: 'fanout-action', data: i });
  sender.send({ action: 'base-action', data: 'after the burst' });
  const expected = [...Array.from({ length: 1000 }, (_, i) => i), 'between', ...Array.from({ length: 1000 }, (_, i) => 1000 + i)];
  const heard = (client: FrameClient): unknown[] =>
    client.frames
      .map((f) => JSON.parse(f) as { action: string; data: unknown; fd?: number })
      .filter((f) => f.fd === sender.fd && (f.action === 'fanout-action' || f.action === 'broadcast-action'))
      .map((f) => f.data);
  for (const receiver of [near, far]) {
    await receiver.next((f) => f.includes('"fanout-action","data":1999'), 20_000);
    assert.deepEqual(heard(receiver), expected, 'every fanout once, in order, the broadcast in its place');
  }
  // The sender gets its own fanouts (not its broadcast), and the answer to its last frame after all of them.
  const echo = await sender.next((f) => f.includes('after the burst'), 20_000);
  const own = sender.frames.slice(0, sender.frames.indexOf(echo));
  assert.deepEqual(
    own.map((f) => JSON.parse(f) as { action: string; data: unknown }).filter((f) => f.action === 'fanout-action').map((f) => f.data),
    expected.filter((d) => d !== 'between'),
  );
  assert.ok(!sender.frames.some((f) => f.includes('"error"')), 'nothing was refused');
});
