import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrameClient } from './helpers/frame-client.js';
import { startServer } from './helpers/server.js';

/**
 * A handshake that waits on the primary (a temporary token, a per-address count) is
 * upgraded later, from outside uWS's own callback. Such sockets must open and stay open,
 * however the garbage collector's timing falls: with this uWS build, work done inside the
 * open callback of a late upgrade let a collection close the new socket (1006) right after
 * its connection-info, about one handshake in a dozen.
 */
const HANDSHAKES = 150;

test(`${HANDSHAKES} handshakes admitted by temporary tokens open, answer, and close normally`, async (t) => {
  const server = await startServer(['--token', 'async-token'], t);
  for (let i = 0; i < HANDSHAKES; i++) {
    const response = await fetch(`${server.httpUrl}/conveyor/auth?token=async-token`, { method: 'POST', body: '{}' });
    const { auth } = (await response.json()) as { auth: string };
    const client = await FrameClient.connect(`${server.url}/?token=${auth}`);
    await client.barrier(`handshake ${i}`);
    client.close();
    assert.equal(await client.closed, 1005, `handshake ${i} closed normally, not cut`);
  }
});

test(`${HANDSHAKES} handshakes counted per address open, answer, and close normally`, async (t) => {
  const server = await startServer(['--max-connections-per-ip', '1000'], t);
  for (let i = 0; i < HANDSHAKES; i++) {
    const client = await FrameClient.connect(server.url);
    await client.barrier(`handshake ${i}`);
    client.close();
    assert.equal(await client.closed, 1005, `handshake ${i} closed normally, not cut`);
  }
});
