import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { APP, EventLog, RawPusher, channelAuth, pusherClient, sdkFor, spreadClients, subscribed } from './helpers/pusher.js';
import { startServer } from './helpers/server.js';
import { webhookReceiver } from './helpers/webhooks.js';

async function serverWithWebhooks(t: TestContext, url: string, workers = 2) {
  const config = join(tmpdir(), `conveyor-webhooks-${process.pid}-${Date.now()}.json`);
  writeFileSync(config, JSON.stringify({ pusherApps: [{ ...APP, clientEvents: true, webhooks: [{ url }] }] }));
  return startServer(['--config', config, '--workers', String(workers)], t);
}

test('webhooks: occupied and vacated once for the whole server, member events per user, client events and cache misses; each request signed', async (t) => {
  const hooks = await webhookReceiver(t);
  const server = await serverWithWebhooks(t, hooks.url);
  const clients = await spreadClients(server, 2, 2, (i) => pusherClient(server, { user: { id: i === 0 ? 'ann' : 'bob' } }), t);
  for (const client of clients) await subscribed(client, 'presence-hooks');
  const occupied = (await hooks.log.count(3)).filter((e) => e.name === 'channel_occupied');
  assert.deepEqual(occupied, [{ name: 'channel_occupied', channel: 'presence-hooks' }]);
  for (const client of clients) client.unsubscribe('presence-hooks');
  const all = await hooks.log.count(6);
  assert.deepEqual(
    all.map((e) => `${e.name} ${e.user_id ?? ''}`.trim()).sort(),
    ['channel_occupied', 'channel_vacated', 'member_added ann', 'member_added bob', 'member_removed ann', 'member_removed bob'].sort(),
  );
  // A client event and a cache miss.
  const raw = await RawPusher.connect(server);
  t.after(() => raw.close());
  raw.send({ event: 'pusher:subscribe', data: { channel: 'private-chat', auth: channelAuth(raw.socketId, 'private-chat') } });
  raw.send({ event: 'pusher:subscribe', data: { channel: 'cache-quotes' } });
  await raw.next((f) => f['event'] === 'pusher:cache_miss');
  raw.send({ event: 'client-typing', channel: 'private-chat', data: { on: true } });
  const later = await hooks.log.count(10);
  assert.deepEqual(
    later.slice(6).filter((e) => e.name === 'client_event' || e.name === 'cache_miss').sort((a, b) => a.name.localeCompare(b.name)),
    [
      { name: 'cache_miss', channel: 'cache-quotes' },
      { name: 'client_event', channel: 'private-chat', event: 'client-typing', data: { on: true }, socket_id: raw.socketId },
    ],
  );
  const sdk = sdkFor(server);
  for (const request of hooks.requests) {
    assert.equal(request.headers['x-pusher-key'], APP.key);
    const webhook = sdk.webhook({ headers: request.headers as Record<string, string>, rawBody: request.body });
    assert.ok(webhook.isValid(), 'the SDK accepts the signature');
    assert.equal(typeof (JSON.parse(request.body) as { time_ms: number }).time_ms, 'number');
  }
});

test('a webhook receiver that fails is retried with backoff until it answers', async (t) => {
  const hooks = await webhookReceiver(t, 2);
  const server = await serverWithWebhooks(t, hooks.url, 1);
  const raw = await RawPusher.connect(server);
  t.after(() => raw.close());
  raw.send({ event: 'pusher:subscribe', data: { channel: 'retried' } });
  const [event] = await hooks.log.count(1, 15_000);
  assert.deepEqual(event, { name: 'channel_occupied', channel: 'retried' });
  assert.equal(hooks.requests.length, 1, 'delivered once, after the failures');
});
