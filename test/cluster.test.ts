import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrameClient } from './helpers/frame-client.js';
import { alive, fetchHealth } from './helpers/server-health.js';
import { CLI, startServer, type RunningServer } from './helpers/server.js';


/** Connects clients until every worker has at least `perWorker` sockets (the kernel spreads them). */
async function spreadClients(server: RunningServer, perWorker: number, t: { after(fn: () => void): void }): Promise<FrameClient[]> {
  const clients: FrameClient[] = [];
  t.after(() => clients.forEach((c) => c.close()));
  for (let i = 0; i < 200; i++) {
    clients.push(await FrameClient.connect(server.url));
    if (clients.length < 2 * perWorker) continue;
    const h = await fetchHealth(server);
    if (h.workers.length >= 2 && h.workers.every((w) => w.connections >= perWorker)) return clients;
  }
  throw new Error('connections did not spread over both workers');
}

/** Another process's exit has no event to await here: poll, bounded. */
async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('kill -9 of one worker under traffic: the other keeps serving, presence drops the dead, a new worker serves', async (t) => {
  const server = await startServer(['--workers', '2', '--task-workers', '2', '--presence'], t);
  const clients = await spreadClients(server, 2, t);
  for (const client of clients) {
    client.send({ action: 'channel-connect', channel: 'room' });
    await client.barrier();
  }
  const before = await fetchHealth(server);
  const victim = before.workers[0]!;
  const fdsBefore = new Set(clients.map((c) => c.fd));

  // A publisher sends a numbered stream; the worker dies in the middle of it.
  const publisher = clients[clients.length - 1]!;
  const sendRange = (from: number, to: number): void => {
    for (let i = from; i < to; i++) publisher.send({ action: 'broadcast-action', data: i });
  };
  sendRange(0, 20);
  process.kill(victim.pid, 'SIGKILL');
  const dead = await Promise.all(clients.map((c) => Promise.race([c.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))])));
  const survivors = clients.filter((_, i) => !dead[i]);
  const casualties = clients.filter((_, i) => dead[i]);
  assert.ok(casualties.length >= 2, 'the killed worker had sockets');
  assert.ok(survivors.includes(publisher) || survivors.length >= 2, 'the other worker kept its sockets');

  const sender = survivors[0]!;
  for (let i = 20; i < 40; i++) sender.send({ action: 'broadcast-action', data: i });
  for (const survivor of survivors.filter((c) => c !== sender)) {
    // Every post-kill broadcast arrives, in order.
    for (let i = 20; i < 40; i++) await survivor.next((f) => f === JSON.stringify({ action: 'broadcast-action', data: i, fd: sender.fd }));
  }
  // Each dead member leaves presence, seen by a survivor.
  for (const gone of casualties) {
    const frame = await survivors[0]!.next((f) => f.startsWith('{"action":"channel-disconnect"') && f.includes(`\\"fd\\":${gone.fd},`));
    const data = JSON.parse((JSON.parse(frame) as { data: string }).data) as { fds: number[] };
    assert.ok(!data.fds.includes(gone.fd));
  }
  await waitUntil(async () => {
    const h = await fetchHealth(server);
    return h.workers.length === 2 && !h.workers.some((w) => w.id === victim.id) && h.connections === survivors.length;
  }, 'a replacement worker runs and the registry holds only survivors');

  // New connections are served (some land on the replacement) and fds are never reused.
  const fresh = await spreadClients(server, 1, t);
  for (const client of fresh) assert.ok(!fdsBefore.has(client.fd), `fd ${client.fd} reused`);
});

test('SIGTERM closes every socket with 1001 and exits 0', async (t) => {
  const server = await startServer(['--workers', '2'], t);
  const clients = await spreadClients(server, 1, t);
  const code = server.stop('SIGTERM');
  const closeCodes = await Promise.all(clients.map((c) => c.closed));
  assert.deepEqual(new Set(closeCodes), new Set([1001]));
  assert.equal(await code, 0);
});

test('SIGTERM while the workers are still starting stops the server: it does not go on running, nor restart the workers it stopped', async (t) => {
  const child = spawn(process.execPath, [CLI, 'start', '--port', '0', '--workers', '2', '--log-level', 'debug'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  const lines: string[] = [];
  let signalled = false;
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  createInterface({ input: child.stderr! }).on('line', (line) => lines.push(line));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    // The primary logs "worker started" as it forks each worker, before any of them listens.
    if (line.includes('"worker started"') && !signalled) signalled = child.kill('SIGTERM');
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const [code, signal] = await exited;
  clearTimeout(timer);
  assert.equal(signal, null, `the server had to be killed: it did not stop on SIGTERM\n${lines.join('\n')}`);
  assert.equal(code, 0, lines.join('\n'));
  assert.equal(lines.filter((l) => l.includes('"restarting worker"')).length, 0, lines.join('\n'));
});

test('SIGHUP rolls the workers one at a time without refusing a connection', async (t) => {
  // Without listener handover Linux resets connections queued at a closing listener: the setup script turns it on.
  assert.equal((await readFile('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8')).trim(), '1', 'run scripts/setup-test.sh (npm test does) to set net.ipv4.tcp_migrate_req=1');
  const server = await startServer(['--workers', '2'], t);
  const clients = await spreadClients(server, 1, t);
  const before = await fetchHealth(server);
  server.process.kill('SIGHUP');
  let rolled = false;
  void server.waitForLog((l) => l['msg'] === 'rolling restart done').then(() => (rolled = true));
  let opened = 0;
  const during: FrameClient[] = [];
  t.after(() => during.forEach((c) => c.close()));
  // Keep connecting throughout the roll: any refused handshake rejects and fails the test.
  while (!rolled) {
    during.push(await FrameClient.connect(server.url));
    opened++;
  }
  assert.ok(opened > 0);
  const closeCodes = await Promise.all(clients.map((c) => c.closed));
  assert.deepEqual(new Set(closeCodes), new Set([1012]));
  // fetch keeps the connection of the first /health, held by a worker that is gone now: when
  // its close crosses the request, the request fails once, and a new connection answers.
  const after = await fetchHealth(server).catch(() => fetchHealth(server));
  assert.equal(after.workers.length, 2);
  for (const w of after.workers) assert.ok(!before.workers.some((b) => b.id === w.id), 'every worker was replaced');
  await FrameClient.connect(server.url).then((c) => c.close());
});

test('when the primary dies, its workers exit', async (t) => {
  const server = await startServer(['--workers', '2'], t);
  const { workers } = await fetchHealth(server);
  server.process.kill('SIGKILL');
  await server.stop();
  await waitUntil(() => workers.every((w) => !alive(w.pid)), 'every worker exited');
});
