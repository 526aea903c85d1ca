import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { test } from 'node:test';
import { FrameClient } from './helpers/frame-client.js';
import { startServer, type RunningServer } from './helpers/server.js';

async function scrape(server: RunningServer): Promise<{ contentType: string | null; text: string }> {
  const response = await fetch(`${server.httpUrl}/metrics`);
  assert.equal(response.status, 200);
  return { contentType: response.headers.get('content-type'), text: await response.text() };
}

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('GET /metrics serves server-wide Prometheus metrics, per worker where it matters', async (t) => {
  const server = await startServer(['--workers', '2'], t);
  const clients: FrameClient[] = [];
  t.after(() => clients.forEach((c) => c.close()));
  for (let i = 0; i < 6; i++) clients.push(await FrameClient.connect(server.url));
  for (const [i, client] of clients.entries()) {
    client.send({ action: 'channel-connect', channel: i % 2 === 0 ? 'even' : 'odd' });
    await client.barrier();
  }
  clients[0]!.send({ action: 'broadcast-action', data: 'to the evens' });
  await clients[2]!.next((f) => f.includes('to the evens'));

  const first = await scrape(server);
  assert.match(first.contentType ?? '', /^text\/plain; version=0\.0\.4/);
  assert.equal(value(first.text, 'conveyor_connections'), 6);
  assert.equal(value(first.text, 'conveyor_channels'), 2);
  assert.equal(value(first.text, 'conveyor_workers'), 2);
  const perWorker = first.text.split('\n').filter((l) => l.startsWith('conveyor_worker_connections{'));
  assert.equal(perWorker.length, 2);
  assert.equal(perWorker.reduce((sum, l) => sum + Number(l.split(' ')[1]), 0), 6);

  // Frame counters arrive with each worker's once-a-second usage report: wait for it, bounded.
  // 6 channel-connects + 6 barriers + 1 broadcast were received; 1 broadcast was published.
  let text = first.text;
  for (let i = 0; i < 50; i++) {
    const received = text.split('\n').filter((l) => l.startsWith('conveyor_frames_received_total{')).reduce((s, l) => s + Number(l.split(' ')[1]), 0);
    if (received >= 13) break;
    await delay(100);
    text = (await scrape(server)).text;
  }
  const total = (name: string): number => text.split('\n').filter((l) => l.startsWith(`${name}{`)).reduce((s, l) => s + Number(l.split(' ')[1]), 0);
  assert.equal(total('conveyor_frames_received_total'), 13);
  assert.equal(total('conveyor_frames_published_total'), 1);
  assert.equal(total('conveyor_slow_consumers_closed_total'), 0);
});
