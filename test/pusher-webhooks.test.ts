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

test('client_event webhooks to a receiver that never answers: the queue stops at its byte bound, drops are counted and logged at most once a second, and the primary stays bounded', async (t) => {
  const sockets = new Set<import('node:net').Socket>();
  const silent = (await import('node:http')).createServer(() => {});
  silent.on('connection', (socket) => sockets.add(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    silent.close();
  });
  const url = `http://127.0.0.1:${(silent.address() as import('node:net').AddressInfo).port}/hooks`;
  const config = join(tmpdir(), `conveyor-webhooks-silent-${process.pid}-${Date.now()}.json`);
  writeFileSync(config, JSON.stringify({ pusherApps: [{ ...APP, clientEvents: true, clientEventRate: 100_000, webhooks: [{ url, events: ['client_event'] }] }] }));
  const server = await startServer(['--config', config, '--workers', '1'], t);
  const { RssWatch } = await import('./helpers/attack.js');
  const { processIds } = await import('./helpers/server-health.js');
  const pids = await processIds(server, 1);
  const senders = await Promise.all(Array.from({ length: 8 }, () => RawPusher.connect(server)));
  t.after(() => senders.forEach((s) => s.close()));
  // Each alone in its channel: nothing is relayed, so the webhooks are all the server does with them.
  for (const [i, sender] of senders.entries()) {
    sender.send({ event: 'pusher:subscribe', data: { channel: `private-loud-${i}`, auth: channelAuth(sender.socketId, `private-loud-${i}`) } });
    await sender.next((f) => f['event'] === 'pusher_internal:subscription_succeeded');
  }
  const watch = new RssWatch({ primary: pids.primary });
  t.after(() => watch.stop());
  const frames = senders.map((_, i) => JSON.stringify({ event: 'client-loud', channel: `private-loud-${i}`, data: { pad: 'w'.repeat(9 * 1024) } }));
  const metric = async (name: string): Promise<number> => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(await (await fetch(`${server.httpUrl}/metrics`)).text())?.[1] ?? 0);
  // 9 KB events (the app's maxEventBytes is 10 KB) from 8 sockets, about 90 MB in all: past the bound.
  const start = Date.now();
  let sent = 0;
  while (sent < 10_000) {
    for (const [n, sender] of senders.entries()) if (sender.ws.bufferedAmount < 256 * 1024) for (let i = 0; i < 16; i++, sent++) sender.ws.send(frames[n]!);
    await new Promise((resolve) => setImmediate(resolve));
  }
  for (const sender of senders) await sender.barrier();
  await (async () => {
    while ((await metric('conveyor_webhook_events_dropped_total')) === 0) {
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  })();
  watch.stop();
  const seconds = (Date.now() - start) / 1000;
  t.diagnostic(`${sent} events in ${seconds.toFixed(1)} s; RSS ${watch.describe()}`);
  assert.ok((await metric('conveyor_webhook_bytes')) <= 64 * 1024 * 1024 + 10 * 1024);
  watch.assertGrowthBelow(400);
  const lines = server.logs.filter((l) => String(l['msg']).startsWith('webhook queue full'));
  assert.ok(lines.length >= 1 && lines.length <= Math.ceil(seconds) + 2, `${lines.length} log lines in ${seconds.toFixed(1)} s`);
  assert.ok(senders.every((s) => !s.frames.some((f) => f['event'] === 'pusher:error')), 'the senders were refused nothing');
});
