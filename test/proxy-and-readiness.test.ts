import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attemptHandshake } from './helpers/conformance.js';
import { FrameClient } from './helpers/frame-client.js';
import { startServer } from './helpers/server.js';

test('--trust-proxy: from a trusted peer the client is the right-most untrusted X-Forwarded-For hop, which --max-connections-per-ip counts and the logs show', async (t) => {
  const server = await startServer(['--trust-proxy', '127.0.0.1, 10.0.0.0/8', '--max-connections-per-ip', '2'], t);
  const open: FrameClient[] = [];
  t.after(() => open.forEach((c) => c.close()));
  const as = async (forwarded: string): Promise<number> => {
    const answer = await attemptHandshake(server.url, { 'x-forwarded-for': forwarded });
    return answer.status;
  };
  // Two sockets held open for 203.0.113.7, then a third is refused: the proxy's own address is not what counts.
  for (let i = 0; i < 2; i++) open.push(await FrameClient.connectWith(server.url, { 'x-forwarded-for': '203.0.113.7' }));
  assert.equal(await as('203.0.113.7'), 429);
  // The client's own claim (left-most) is not believed; trusted proxies on the way are skipped.
  assert.equal(await as('203.0.113.7, 198.51.100.1, 10.1.2.3'), 101);
  assert.equal(await as('198.51.100.1, 203.0.113.7, 10.1.2.3'), 429);
  assert.equal(await as('203.0.113.8'), 101);
  const refused = await server.waitForLog((l) => l['msg'] === 'handshake refused' && l['status'] === 429);
  assert.equal(refused['remoteAddress'], '203.0.113.7');
});

test('--trust-proxy: X-Real-IP counts when there is no X-Forwarded-For; from an untrusted peer both headers are ignored', async (t) => {
  const trusting = await startServer(['--trust-proxy', '127.0.0.1', '--max-connections-per-ip', '1'], t);
  const held = await FrameClient.connectWith(trusting.url, { 'x-real-ip': '192.0.2.50' });
  t.after(() => held.close());
  assert.equal((await attemptHandshake(trusting.url, { 'x-real-ip': '192.0.2.50' })).status, 429);
  assert.equal((await attemptHandshake(trusting.url, { 'x-real-ip': '192.0.2.51' })).status, 101);

  const untrusting = await startServer(['--trust-proxy', '10.0.0.1', '--max-connections-per-ip', '1'], t);
  const first = await FrameClient.connectWith(untrusting.url, { 'x-forwarded-for': '192.0.2.60' });
  t.after(() => first.close());
  // A forged header from a peer that is not a trusted proxy changes nothing: it is still 127.0.0.1.
  assert.equal((await attemptHandshake(untrusting.url, { 'x-forwarded-for': '192.0.2.61' })).status, 429);
});

test('GET /ready answers 200 while serving and 503 "draining" from SIGTERM on, for --drain-delay, before any socket is closed', async (t) => {
  const server = await startServer(['--drain-delay', '2', '--workers', '2'], t);
  const ready = await fetch(`${server.httpUrl}/ready`);
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), { status: 'ready' });
  const client = await FrameClient.connect(server.url);
  const stopped = server.stop('SIGTERM');
  for (let i = 0; ; i++) {
    const answer = await fetch(`${server.httpUrl}/ready`);
    if (answer.status === 503) {
      assert.deepEqual(await answer.json(), { status: 'draining' });
      break;
    }
    assert.ok(i < 200, '/ready never turned 503');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  // Still serving while the load balancer takes the node out.
  assert.equal(client.closeCode, undefined);
  await client.barrier();
  assert.equal(await client.closed, 1001);
  assert.equal(await stopped, 0);
});
