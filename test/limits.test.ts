import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attemptHandshake } from './helpers/conformance.js';
import { FrameClient } from './helpers/frame-client.js';
import { fetchHealth } from './helpers/server-health.js';
import { startServer, type RunningServer } from './helpers/server.js';


async function joined(url: string, channel: string, t: { after(fn: () => void): void }): Promise<FrameClient> {
  const client = await FrameClient.connect(url);
  t.after(() => client.close());
  client.send({ action: 'channel-connect', channel });
  await client.barrier();
  return client;
}

test('--max-connections refuses the handshake past the limit with 503, and admits again once a socket closes', async (t) => {
  const server = await startServer(['--max-connections', '3'], t);
  const open = await Promise.all([1, 2, 3].map(() => FrameClient.connect(server.url)));
  t.after(() => open.forEach((c) => c.close()));
  const refused = await attemptHandshake(server.url);
  assert.equal(refused.status, 503);
  assert.deepEqual(JSON.parse(refused.body), { error: 'Server is at its connection limit (--max-connections); retry later or on another instance.' });
  open[0]!.close();
  await open[0]!.closed;
  const again = await FrameClient.connect(server.url);
  again.close();
});

test('--max-connections-per-ip counts one address across workers: 429 past it', async (t) => {
  const server = await startServer(['--workers', '2', '--max-connections-per-ip', '4'], t);
  const open: FrameClient[] = [];
  for (let i = 0; i < 4; i++) open.push(await FrameClient.connect(server.url));
  t.after(() => open.forEach((c) => c.close()));
  const refused = await attemptHandshake(server.url);
  assert.equal(refused.status, 429);
  assert.deepEqual(JSON.parse(refused.body), { error: 'Too many connections from your address (--max-connections-per-ip); close one and retry.' });
  open.pop()!.close();
  // The freed slot is counted in the primary once the close has travelled there: retry until it is.
  for (let attempt = 0; ; attempt++) {
    const retry = await attemptHandshake(server.url);
    if (retry.status === 101) break;
    assert.equal(retry.status, 429);
    assert.ok(attempt < 100, 'the closed socket never gave its slot back');
    await server.waitForLog((l) => l['msg'] === 'connection closed');
  }
});

test('--message-rate answers the first refused frame with an error, drops the rest, then closes a persistent flooder with 1008', async (t) => {
  const server = await startServer(['--message-rate', '5', '--message-burst', '5'], t);
  const flooder = await FrameClient.connect(server.url);
  const bystander = await FrameClient.connect(server.url);
  t.after(() => [flooder, bystander].forEach((c) => c.close()));
  for (let i = 0; i < 40; i++) flooder.send({ action: 'base-action', data: `m${i}` });
  assert.equal(await flooder.closed, 1008);
  const texts = flooder.frames.slice(1).map((f) => JSON.parse(f) as { action: string; data: string });
  const errors = texts.filter((f) => f.action === 'error');
  assert.deepEqual(errors, [
    {
      action: 'error',
      data: 'Too many frames: this server accepts 5 per second from one socket. Frames are dropped until you slow down; a socket that keeps on is closed with 1008.',
      fd: flooder.fd,
    },
  ]);
  // The burst was served in order before the refusals began.
  const echoed = texts.filter((f) => f.action === 'base-action').map((f) => f.data);
  assert.deepEqual(echoed, echoed.map((_, i) => `m${i}`));
  assert.ok(echoed.length >= 5 && echoed.length < 40, `echoed ${echoed.length}`);
  await bystander.barrier();
});

test('a frame nested deeper than --max-json-depth gets an error frame; the socket keeps working', async (t) => {
  const server = await startServer(['--max-json-depth', '8'], t);
  const client = await FrameClient.connect(server.url);
  t.after(() => client.close());
  const deep = `{"action":"base-action","data":${'['.repeat(8)}1${']'.repeat(8)}}`;
  client.send(deep);
  assert.deepEqual(JSON.parse(await client.next()), { action: 'error', data: 'Frame nests arrays and objects deeper than 8 levels; flatten it.', fd: client.fd });
  // Brackets inside strings are text, not nesting.
  client.send({ action: 'base-action', data: '[[[[[[[[[[[[[[[[[[[[' });
  assert.deepEqual(JSON.parse(await client.next()), { action: 'base-action', data: '[[[[[[[[[[[[[[[[[[[[', fd: client.fd });
  const shallow = `{"action":"base-action","data":${'['.repeat(7)}1${']'.repeat(7)}}`;
  client.send(shallow);
  assert.deepEqual(JSON.parse(await client.next()), { action: 'base-action', data: [[[[[[[1]]]]]]], fd: client.fd });
});

test('channel names over 200 characters or with control characters are refused on the socket', async (t) => {
  const server = await startServer([], t);
  const client = await FrameClient.connect(server.url);
  t.after(() => client.close());
  client.send({ action: 'channel-connect', channel: 'x'.repeat(201) });
  assert.deepEqual(JSON.parse(await client.next()), { action: 'error', data: 'Channel name is 201 characters long; the limit is 200.', fd: client.fd });
  client.send({ action: 'channel-connect', channel: 'bad\u0000name' });
  assert.deepEqual(JSON.parse(await client.next()), {
    action: 'error',
    data: 'Channel name must be printable characters only (no control characters).',
    fd: client.fd,
  });
  // 200 characters, including non-ASCII, is fine: the socket joins and can talk there.
  const name = `ü${'y'.repeat(199)}`;
  const peer = await joined(server.url, name, t);
  client.send({ action: 'channel-connect', channel: name });
  await client.barrier();
  client.send({ action: 'broadcast-action', data: 'hi' });
  assert.deepEqual(JSON.parse(await peer.next((f) => f.includes('"broadcast-action"'))), { action: 'broadcast-action', data: 'hi', fd: client.fd });

});

test('POST /conveyor/auth refuses channel names over 200 characters with 400', async (t) => {
  const server = await startServer(['--token', 'limits-token'], t);
  const response = await fetch(`${server.httpUrl}/conveyor/auth?token=limits-token`, { method: 'POST', body: JSON.stringify({ channel: 'x'.repeat(201) }) });
  assert.equal(response.status, 400);
  assert.deepEqual(await response.json(), { error: 'Channel name is 201 characters long; the limit is 200.' });
});

test('--allowed-origins refuses other origins with 403, admits listed ones and clients that send no Origin', async (t) => {
  const server = await startServer(['--allowed-origins', 'https://app.example.com, http://localhost:3000'], t);
  const refused = await attemptHandshake(server.url, { origin: 'https://evil.example.com' });
  assert.equal(refused.status, 403);
  assert.deepEqual(JSON.parse(refused.body), { error: 'Origin not allowed: add it to --allowed-origins on the server.' });
  for (const headers of [{ origin: 'https://app.example.com' }, { origin: 'http://localhost:3000' }, {}] as Record<string, string>[]) {
    const accepted = await attemptHandshake(server.url, headers);
    assert.equal(accepted.status, 101, JSON.stringify(headers));
  }
  const warning = await server.waitForLog((l) => l['msg'] === 'handshake refused');
  assert.equal(warning['reason'], 'origin https://evil.example.com not allowed');
});

/**
 * A paused reader in a channel that a sender floods: the kernel's socket buffers fill,
 * then uWS queues past --max-backpressure. Returns once the server has logged `msg` for it.
 */
async function stallReader(server: RunningServer, msg: string, t: { after(fn: () => void): void }): Promise<{ slow: FrameClient; fast: FrameClient; sent: number }> {
  const slow = await joined(server.url, 'firehose', t);
  const fast = await joined(server.url, 'firehose', t);
  const sender = await joined(server.url, 'firehose', t);
  slow.ws.pause();
  const chunk = 'z'.repeat(32 * 1024);
  let sent = 0;
  let logged = false;
  void server.waitForLog((l) => l['msg'] === msg && l['fd'] === slow.fd).then(() => (logged = true));
  // Bounded in time, not in count: the server looks for slow consumers once a second, so a
  // fast machine can send any fixed count before the first look. Every round waits for the
  // fast reader, and uWS drops what passes its own limit, so nothing piles up meanwhile.
  const deadline = Date.now() + 15_000;
  while (!logged && Date.now() < deadline) {
    for (let i = 0; i < 50; i++) sender.send({ action: 'broadcast-action', data: `${sent++} ${chunk}` });
    await fast.next((f) => f.startsWith(`{"action":"broadcast-action","data":"${sent - 1} `), 20_000);
  }
  assert.ok(logged, `the server never logged "${msg}"`);
  return { slow, fast, sent };
}

test('a reader past --max-backpressure is closed with 1013 while the channel keeps flowing to the others', async (t) => {
  const server = await startServer(['--max-backpressure', '65536'], t);
  const { slow, fast, sent } = await stallReader(server, 'slow consumer closed', t);
  slow.ws.resume();
  assert.equal(await slow.closed, 1013);
  // The fast reader got every message, in order.
  const received = fast.frames.filter((f) => f.includes('"broadcast-action"')).map((f) => Number((JSON.parse(f) as { data: string }).data.split(' ')[0]));
  assert.deepEqual(received, Array.from({ length: sent }, (_, i) => i));
  const stats = await fetchHealth(server);
  assert.equal(stats.workers[0]!.slowConsumersClosed, 1);
});

test('with --slow-consumer drop the slow reader stays connected, misses messages, is counted, and receives again once it catches up', async (t) => {
  const server = await startServer(['--max-backpressure', '65536', '--slow-consumer', 'drop'], t);
  const { slow, sent } = await stallReader(server, 'slow consumer is missing messages', t);
  slow.ws.resume();
  const stats = await fetchHealth(server);
  assert.ok(stats.workers[0]!.slowConsumersDropping >= 1);
  // Caught up: a new message reaches it, and some of the flood did not.
  await slow.barrier();
  const got = slow.frames.filter((f) => f.includes('"broadcast-action"')).length;
  assert.ok(got < sent, `received ${got} of ${sent}`);
  assert.equal(slow.closeCode, undefined);
});

test('an HTTP body over --max-http-body is answered 413, and the endpoint still works after it', async (t) => {
  const server = await startServer(['--max-http-body', '100', '--token', 'limits-token'], t);
  const big = await fetch(`${server.httpUrl}/conveyor/auth?token=limits-token`, { method: 'POST', body: JSON.stringify({ channel: 'c'.repeat(150) }) });
  assert.equal(big.status, 413);
  assert.deepEqual(await big.json(), { error: 'Request body exceeds 100 bytes.' });
  const small = await fetch(`${server.httpUrl}/conveyor/auth?token=limits-token`, { method: 'POST', body: JSON.stringify({ channel: 'room' }) });
  assert.equal(small.status, 200);
  assert.equal(typeof ((await small.json()) as { auth: string }).auth, 'string');
});
