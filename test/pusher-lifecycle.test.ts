import assert from 'node:assert/strict';
import { test } from 'node:test';
import { APP_FLAG, RawPusher, connected, pusherClient } from './helpers/pusher.js';
import { startServer } from './helpers/server.js';

test('a connection silent for activity_timeout gets pusher:ping; one that never answers is closed with 4201', async (t) => {
  // --idle-timeout 8: activity_timeout 4 s, and 2 s to answer the server's ping.
  const server = await startServer(['--pusher-app', APP_FLAG, '--idle-timeout', '8'], t);
  const silent = await RawPusher.connect(server);
  const answering = await RawPusher.connect(server);
  const established = JSON.parse(silent.frames[0]!['data'] as string) as { activity_timeout: number };
  assert.equal(established.activity_timeout, 4);
  assert.deepEqual(await silent.next((f) => f['event'] === 'pusher:ping', 10_000), { event: 'pusher:ping', data: '{}' });
  await answering.next((f) => f['event'] === 'pusher:ping', 10_000);
  answering.send({ event: 'pusher:pong', data: {} });
  assert.equal(await silent.closed, 4201);
  assert.equal(answering.closeCode, undefined, 'the connection that answered stays');
  answering.close();
});

test('SIGTERM closes Pusher connections with 4200 (reconnect now) and native ones with 1001', async (t) => {
  const { FrameClient } = await import('./helpers/frame-client.js');
  const server = await startServer(['--pusher-app', APP_FLAG, '--workers', '2'], t);
  const raw = await RawPusher.connect(server);
  const client = pusherClient(server);
  await connected(client);
  const states: string[] = [];
  client.connection.bind('state_change', (change: { current: string }) => states.push(change.current));
  const native = await FrameClient.connect(server.url);
  const stopped = server.stop('SIGTERM');
  assert.equal(await raw.closed, 4200);
  assert.equal(await native.closed, 1001);
  assert.equal(await stopped, 0);
  client.disconnect();
  assert.ok(states.includes('connecting') || states.includes('unavailable'), `pusher-js went on to reconnect: ${states.join(' → ')}`);
});
