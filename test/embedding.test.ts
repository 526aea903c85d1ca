import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { attemptHandshake } from './helpers/conformance.js';
import { FrameClient } from './helpers/frame-client.js';
import { fetchHealth, placeOnWorkers, processIds } from './helpers/server-health.js';
import { startNode, type RunningServer } from './helpers/server.js';
import { Plain, embedServer } from './helpers/embedded.js';

const example = (name: string): string => fileURLToPath(new URL(`../docs/examples/${name}.js`, import.meta.url));

/** A plain WebSocket client that keeps every message as text (binary ones as `bin:<hex>`). */
/** Plain clients on `path`, at least one on each of the server's two workers. */
async function onBothWorkers(server: RunningServer, path: string, count: number, ready: (client: Plain) => Promise<unknown>, t: TestContext): Promise<Plain[]> {
  const ids = (await fetchHealth(server)).workers.map((w) => w.id).sort((a, b) => a - b);
  const wanted = Array.from({ length: count }, (_, i) => ids[i % ids.length]!);
  const clients = await placeOnWorkers(
    server,
    wanted,
    async () => {
      const client = await Plain.open(`${server.url}${path}`);
      await ready(client);
      return client;
    },
    async (client) => {
      client.ws.close();
      await client.closed;
    },
  );
  t.after(() => clients.forEach((c) => c.ws.close()));
  return clients;
}

test('the echo example (Ratchet\'s echo server) answers text and binary as sent, on both workers', async (t) => {
  const server = await startNode([example('echo')], t, { PORT: '0' });
  const clients = await onBothWorkers(server, '/echo', 2, async () => {}, t);
  for (const client of clients) {
    client.ws.send('hello, échø');
    assert.equal(await client.until((m) => m.startsWith('hello')), 'hello, échø');
    client.ws.send(Buffer.from([0, 1, 2, 255]));
    assert.equal(await client.until((m) => m.startsWith('bin:')), 'bin:000102ff');
  }
});

test('the chat example (Ratchet\'s MyChat): everyone on /chat gets every message of the others, across two workers; the sender does not', async (t) => {
  const server = await startNode([example('chat')], t, { PORT: '0' });
  const clients = await onBothWorkers(server, '/chat', 4, (client) => client.until((m) => m.startsWith('{"welcome"')), t);
  for (const [i, sender] of clients.entries()) sender.ws.send(`line ${i}`);
  for (const [i, client] of clients.entries()) {
    for (let j = 0; j < clients.length; j++) if (j !== i) await client.until((m) => m === `line ${j}`);
  }
  for (const [i, client] of clients.entries()) assert.ok(!client.messages.includes(`line ${i}`), 'a sender does not hear itself');
});

test('the hooks example: a handshake without a session cookie is refused with 401; occupied and vacated are logged once for the whole server; the custom route answers', async (t) => {
  const server = await startNode([example('hooks')], t, { PORT: '0' });
  const refused = await attemptHandshake(server.url);
  assert.equal(refused.status, 401);
  assert.deepEqual(JSON.parse(refused.body), { error: 'Log in first: no session cookie' });
  const cookie = { cookie: 'theme=dark; session=abc123' };
  assert.equal((await attemptHandshake(server.url, cookie)).status, 101);
  const ids = (await fetchHealth(server)).workers.map((w) => w.id).sort((a, b) => a - b);
  const members = await placeOnWorkers(
    server,
    [ids[0]!, ids[1]!],
    async () => {
      const ws = new WebSocket(server.url, 'socketconveyor.com', { headers: cookie });
      await new Promise((resolve) => ws.once('message', resolve));
      return ws;
    },
    async (ws) => {
      ws.close();
      await new Promise((resolve) => ws.once('close', resolve));
    },
  );
  // A socket's frames are handled in order, so the echo after its join says the join took
  // effect: closing before both have would vacate and occupy the channel twice.
  await Promise.all(
    members.map(async (ws) => {
      const echoed = new Promise<void>((resolve) => ws.on('message', (m) => String(m).includes('joined-hooked') && resolve()));
      ws.send(JSON.stringify({ action: 'channel-connect', channel: 'hooked' }));
      ws.send(JSON.stringify({ action: 'base-action', data: 'joined-hooked' }));
      await echoed;
    }),
  );
  await server.waitForLog((l) => l['msg'] === 'channel occupied' && l['channel'] === 'hooked');
  for (const ws of members) ws.close();
  await server.waitForLog((l) => l['msg'] === 'channel vacated' && l['channel'] === 'hooked');
  const counts = (msg: string) => server.logs.filter((l) => l['msg'] === msg && l['channel'] === 'hooked').length;
  assert.equal(counts('channel occupied'), 1);
  assert.equal(counts('channel vacated'), 1);
  const whoami = await fetch(`${server.httpUrl}/whoami`);
  assert.deepEqual(await whoami.json(), { address: '127.0.0.1' });
});


test('groups span workers: publish reaches members on both, created and destroyed once for the server, member events where the socket is; headers and routes reach the app', async (t) => {
  const server = await embedServer(t);
  const clients = await onBothWorkers(server, '/rooms', 2, (client) => client.until((m) => m.startsWith('hello')), t);
  const [a, b] = clients as [Plain, Plain];
  for (const client of clients) {
    client.ws.send('join lounge');
    await client.until((m) => m === 'done join lounge');
  }
  await server.waitForLog((l) => l['msg'] === 'group created' && l['group'] === 'lounge');
  a.ws.send('publish lounge hi from a');
  assert.equal(await b.until((m) => m === 'hi from a'), 'hi from a');
  const announced = await fetch(`${server.httpUrl}/announce`, { method: 'POST', body: JSON.stringify({ group: 'lounge', text: 'from the route' }) });
  assert.equal(announced.status, 200);
  for (const client of clients) await client.until((m) => m === 'from the route');
  assert.ok(!a.messages.includes('hi from a'), 'a broadcast leaves its sender out');
  a.ws.send('leave lounge');
  await a.until((m) => m === 'done leave lounge');
  b.ws.close();
  await server.waitForLog((l) => l['msg'] === 'group destroyed' && l['group'] === 'lounge');
  const count = (msg: string) => server.logs.filter((l) => l['msg'] === msg && l['group'] === 'lounge').length;
  assert.equal(count('group created'), 1);
  assert.equal(count('group destroyed'), 1);
  assert.equal(count('member joined'), 2);
  assert.equal(count('member left'), 2);
  const withHeader = await Plain.open(`${server.url}/rooms`, { 'x-client': 'probe-7' });
  t.after(() => withHeader.ws.close());
  assert.match(await withHeader.until((m) => m.startsWith('hello')), / probe-7$/);
});

test('a WebSocket app socket is in at most 1,000 groups, each named in at most 200 bytes: join() resolves false past either', async (t) => {
  const server = await embedServer(t);
  const socket = await Plain.open(`${server.url}/rooms`);
  t.after(() => socket.ws.close());
  await socket.until((m) => m.startsWith('hello'));
  for (let i = 0; i < 1000; i++) socket.ws.send(`join g${i}`);
  await socket.until((m) => m === 'done join g999', 30_000);
  socket.ws.send('join one-too-many');
  await socket.until((m) => m === 'refused join one-too-many');
  socket.ws.send('leave g0');
  await socket.until((m) => m === 'done leave g0');
  socket.ws.send('join one-too-many');
  await socket.until((m) => m === 'done join one-too-many');
  socket.ws.send('leave g1');
  await socket.until((m) => m === 'done leave g1');
  const long = 'n'.repeat(201);
  socket.ws.send(`join ${long}`);
  await socket.until((m) => m === `refused join ${long}`);
  await server.waitForLog((l) => typeof l['msg'] === 'string' && l['msg'].startsWith('join refused: a socket may be in at most 1000 groups'));
});

test('a throwing hook, app callback or route is logged and never takes the worker down', async (t) => {
  const server = await embedServer(t);
  const pids = await processIds(server, 2);
  // connectionOpened throws for this path: the socket still opens and is served.
  const native = await FrameClient.connect(`${server.url}/hook-throws`);
  await native.barrier();
  await server.waitForLog((l) => l['msg'] === 'hook failed' && l['hook'] === 'connectionOpened');
  // A hook that throws for every connection of a crowd is said once a second, not once each.
  const crowd = await Promise.all(Array.from({ length: 50 }, () => FrameClient.connect(`${server.url}/hook-throws`)));
  await Promise.all(crowd.map((c) => c.barrier()));
  crowd.forEach((c) => c.close());
  const hookLines = server.logs.filter((l) => l['msg'] === 'hook failed' && l['hook'] === 'connectionOpened').length;
  assert.ok(hookLines <= 10, `${hookLines} log lines for 51 failures`);
  const app = await Plain.open(`${server.url}/rooms`);
  await app.until((m) => m.startsWith('hello'));
  app.ws.send('boom');
  assert.equal(await app.closed, 1011);
  await server.waitForLog((l) => l['msg'] === 'WebSocket app callback failed');
  assert.equal((await fetch(`${server.httpUrl}/throws`)).status, 500);
  native.close();
  // Everything still works, in the very same processes.
  const again = await Plain.open(`${server.url}/rooms`);
  t.after(() => again.ws.close());
  await again.until((m) => m.startsWith('hello'));
  // The only errors logged are the three failures, and no process exited or restarted.
  const logsOfErrors = server.logs.filter((l) => Number(l['level']) >= 50).map((l) => String(l['msg']));
  assert.deepEqual([...new Set(logsOfErrors)].sort(), ['WebSocket app callback failed', 'hook failed', 'request failed']);
  assert.deepEqual(await processIds(server, 2), pids);
  assert.ok(!server.logs.some((l) => /worker (exited|died|restarted)/.test(String(l['msg']))));
});

test('the server\'s limits apply to app paths: payload (1009), origins (403), message rate (1008), HTTP body (413)', async (t) => {
  const server = await embedServer(t, { maxPayload: 1024, allowedOrigins: 'https://app.example.com', messageRate: 5, messageBurst: 5, maxHttpBody: 128 });
  const big = await Plain.open(`${server.url}/rooms`);
  big.ws.send('x'.repeat(1500));
  assert.equal(await big.closed, 1009);
  assert.equal((await attemptHandshake(`${server.url}/rooms`, { origin: 'https://evil.example.com' })).status, 403);
  const flood = await Plain.open(`${server.url}/rooms`);
  for (let i = 0; i < 40; i++) flood.ws.send(`join g${i}`);
  assert.equal(await flood.closed, 1008);
  const body = JSON.stringify({ group: 'g', text: 'x'.repeat(200) });
  assert.equal((await fetch(`${server.httpUrl}/announce`, { method: 'POST', body })).status, 413);
});
