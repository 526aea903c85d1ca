import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { attemptHandshake } from './helpers/conformance.js';
import { FrameClient } from './helpers/frame-client.js';
import { fetchHealth } from './helpers/server-health.js';
import { startNode, startServer, type RunningServer } from './helpers/server.js';


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

test('a body far over --max-http-body still reaches the client as a 413, not a reset connection, however much of it was still being sent', async (t) => {
  const server = await startServer([], t);
  const body = JSON.stringify({ channel: 'c', message: 'm'.repeat(4 * 1024 * 1024) });
  for (let i = 0; i < 10; i++) {
    const answer = await fetch(`${server.httpUrl}/conveyor/message`, { method: 'POST', body }).catch((error: Error) => error);
    assert.ok(!(answer instanceof Error), `try ${i}: ${answer instanceof Error ? `${answer.message} (${String(answer.cause)})` : ''}`);
    assert.equal(answer.status, 413);
    assert.deepEqual(await answer.json(), { error: 'Request body exceeds 65536 bytes.' });
  }
});

test('a socket waiting on an unfinished frame may queue 256 frames or 1 MiB behind it; past either it gets an error frame, and what was queued still runs in order', async (t) => {
  const script = fileURLToPath(new URL('./helpers/hold-server.js', import.meta.url));
  const server = await startNode([script], t, { CONVEYOR_TEST_HOLD_SERVER: '1' });
  const busy = await FrameClient.connect(server.url);
  const releaser = await FrameClient.connect(server.url);
  t.after(() => [busy, releaser].forEach((c) => c.close()));
  busy.send({ action: 'hold' });
  const chunk = 'q'.repeat(60 * 1024);
  // 17 × 60 KiB frames: the 18th byte-wise would pass 1 MiB.
  for (let i = 0; i < 20; i++) busy.send({ action: 'base-action', data: `${i} ${chunk}` });
  const refusal = 'Too many frames in flight (over 256 frames or 1048576 bytes waiting); wait for answers before sending more. This frame was not applied.';
  const refusals = await Promise.all([0, 1, 2].map(() => busy.next((f) => f.includes(refusal))));
  assert.equal(refusals.length, 3);
  releaser.send({ action: 'release' });
  await releaser.next((f) => f.includes('"released"'));
  await busy.barrier();
  const echoed = busy.frames.filter((f) => f.startsWith('{"action":"base-action"') && f.includes(chunk.slice(0, 32))).map((f) => Number((JSON.parse(f) as { data: string }).data.split(' ')[0]));
  assert.deepEqual(echoed, Array.from({ length: 17 }, (_, i) => i));
});

test('a fanout-action with a wrong auth is refused in the worker: its data never travels to a task thread', async (t) => {
  const server = await startServer(['--token', 'limits-token'], t);
  const client = await FrameClient.connect(`${server.url}/?token=limits-token`);
  t.after(() => client.close());
  const tasksBefore = (await fetchHealth(server)).tasks.completed;
  const big = 'w'.repeat(60 * 1024);
  for (let i = 0; i < 20; i++) client.send({ action: 'fanout-action', data: big, auth: 'wrong' });
  for (let i = 0; i < 20; i++) await client.next((f) => f === JSON.stringify({ action: 'fanout-action', data: 'Failed to broadcast fanout', fd: client.fd }));
  assert.equal((await fetchHealth(server)).tasks.completed, tasksBefore, 'no task ran for a refused fanout');
  client.send({ action: 'fanout-action', data: 'ok', auth: 'limits-token' });
  await client.next((f) => f === JSON.stringify({ action: 'fanout-action', data: 'ok', fd: client.fd }));
  assert.equal((await fetchHealth(server)).tasks.completed, tasksBefore + 1);
});

test('--max-connections counts a handshake only once its token passed: unauthenticated handshakes in flight take no slot', async (t) => {
  const server = await startServer(['--max-connections', '1', '--token', 'limits-token'], t);
  const wrong = Array.from({ length: 40 }, (_, i) => attemptHandshake(`${server.url}/?token=wrong-${i}`));
  const valid = FrameClient.connect(`${server.url}/?token=limits-token`);
  const statuses = await Promise.all(wrong);
  assert.deepEqual(new Set(statuses.map((s) => s.status)), new Set([401]), 'every wrong token gets 401, never 503');
  const client = await valid;
  t.after(() => client.close());
  assert.equal((await attemptHandshake(`${server.url}/?token=limits-token`)).status, 503, 'the limit still holds for token holders');
});

test('refused handshakes are logged at most once a second per kind, with the count of the ones left out', async (t) => {
  const server = await startServer(['--allowed-origins', 'https://app.example.com'], t);
  const started = Date.now();
  for (let i = 0; i < 60; i++) assert.equal((await attemptHandshake(server.url, { origin: `https://evil-${i}.example.com` })).status, 403);
  const elapsedS = (Date.now() - started) / 1000;
  // One more after a quiet second carries the count of those left out.
  const quiet = server.waitForLog((l) => l['msg'] === 'handshake refused' && Number(l['suppressed']) > 0);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  assert.equal((await attemptHandshake(server.url, { origin: 'https://late.example.com' })).status, 403);
  const summary = await quiet;
  const lines = server.logs.filter((l) => l['msg'] === 'handshake refused');
  assert.ok(lines.length <= Math.ceil(elapsedS) + 2, `${lines.length} lines for 61 refusals in ${elapsedS.toFixed(1)} s`);
  const counted = lines.reduce((sum, l) => sum + 1 + Number(l['suppressed'] ?? 0), 0);
  assert.ok(counted <= 61 && counted >= lines.length, `the lines account for ${counted} refusals`);
  assert.equal(summary['kind'], 'origin');
});

test('live temporary tokens are capped by --temp-token-max: past it POST /conveyor/auth answers 503 with Retry-After', async (t) => {
  const server = await startServer(['--token', 'limits-token', '--temp-token-max', '5', '--temp-token-ttl', '30'], t);
  const mint = () => fetch(`${server.httpUrl}/conveyor/auth?token=limits-token`, { method: 'POST', body: JSON.stringify({ channel: 'room' }) });
  for (let i = 0; i < 5; i++) assert.equal((await mint()).status, 200);
  const refused = await mint();
  assert.equal(refused.status, 503);
  const retryAfter = Number(refused.headers.get('retry-after'));
  assert.ok(retryAfter >= 1 && retryAfter <= 30, `Retry-After ${retryAfter}`);
  assert.deepEqual(await refused.json(), { error: 'The server holds its maximum of 5 live temporary tokens (--temp-token-max); retry after the time in Retry-After.' });
  assert.equal((await fetchHealth(server)).temporaryTokens, 5);
});

test('presence frames longer than --presence-max-bytes carry the count only', async (t) => {
  const server = await startServer(['--presence', '--presence-max-bytes', '2048'], t);
  const members: FrameClient[] = [];
  t.after(() => members.forEach((c) => c.close()));
  for (let i = 0; i < 12; i++) {
    const member = await FrameClient.connect(server.url);
    members.push(member);
    member.send({ action: 'assoc-user-to-fd-action', userId: `user-${i}`.padEnd(200, '-') });
    member.send({ action: 'channel-connect', channel: 'long-ids' });
    await member.next((f) => f.includes('"channel-presence') && f.includes(`\\"fd\\":${member.fd},`));
  }
  // The first member's socket may read the last join's frame a moment after the joiner's own does.
  await members[0]!.next((f) => f.includes('"channel-presence') && f.includes(`\\"fd\\":${members.at(-1)!.fd},`));
  const presence = (frame: string) => JSON.parse((JSON.parse(frame) as { data: string }).data) as Record<string, unknown>;
  const first = presence(members[0]!.frames.find((f) => f.includes('channel-presence'))!);
  assert.deepEqual(Object.keys(first), ['fd', 'event', 'channel', 'fds', 'userIds']);
  const last = members[0]!.frames.filter((f) => f.includes('channel-presence')).map((f) => [Buffer.byteLength(f), presence(f)] as const).at(-1)!;
  assert.deepEqual(last[1], { fd: members.at(-1)!.fd, event: 'channel-presence', channel: 'long-ids', count: 12 });
  for (const frame of members[0]!.frames) assert.ok(Buffer.byteLength(frame) <= 2048, `a frame of ${Buffer.byteLength(frame)} bytes`);
});
