import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULT_OPTIONS, type BenchOptions } from '../src/bench/bench-options.js';
import { runBench, type BenchResult } from '../src/bench/run-bench.js';
import { startServerProcess } from '../src/bench/server-process.js';
import { awaitFrame } from './helpers/conformance.js';
import { FrameClient } from './helpers/frame-client.js';
import { CLI, startServer } from './helpers/server.js';

/** Small, short runs: these tests check the accounting, never a speed. */
function options(url: string, overrides: Partial<BenchOptions>): BenchOptions {
  return { ...DEFAULT_OPTIONS, scenario: 'fanout', url, threads: 2, duration: 1, timeout: 5, ...overrides };
}

/** Every message asked for is delivered, or counted as lost or timed out: nothing vanishes. */
function assertAccounted(result: BenchResult): void {
  assert.equal(result.delivered + result.lost + result.lostToClosed + result.timeouts, result.expected, JSON.stringify(result, null, 1));
  assert.equal(result.foreign, 0);
}

/** Open loop: 30 subscribers in 3 channels, 4 publishers (channel 0 has publishers 0 and 3): sent × 10 expected, all delivered. */
async function openLoopFanout(url: string, extra: Partial<BenchOptions> = {}): Promise<void> {
  const result = await runBench(options(url, { ...extra, connections: 30, channels: 3, publishers: 4, rate: 400, batch: 2 }));
  assert.equal(result.connections.open, 34);
  assert.ok(result.sent >= 300, `sent ${result.sent}`);
  assert.equal(result.expected, result.sent * 10);
  assertAccounted(result);
  assert.equal(result.delivered, result.expected, 'a healthy local server delivers everything');
  assert.equal(result.errors, 0, result.errorSamples.join('\n'));
  assert.ok(result.latency && result.latency.count === result.delivered);
}

/** Closed loop at the maximum rate: every message accounted for, none timed out. */
async function closedLoopFanout(url: string, extra: Partial<BenchOptions> = {}): Promise<void> {
  const result = await runBench(options(url, { ...extra, connections: 20, rate: 0, window: 8, batch: 4 }));
  assert.ok(result.sent > 0);
  assert.equal(result.expected, result.sent * 20);
  assertAccounted(result);
  assert.equal(result.timeouts, 0);
}

test('each scenario runs against a real server and its counts add up', async (t) => {
  const server = await startServer(['--workers', '2'], t);

  await t.test('fanout, open loop: sent × subscribers of each channel = delivered + losses', () => openLoopFanout(server.url));

  await t.test('fanout, closed loop at the maximum rate stays within its window', () => closedLoopFanout(server.url));

  await t.test('fanout with --action fanout: fanout-action reaches every subscriber once, the publishers hearing themselves not counted', async () => {
    // A socket outside the bench's channel hears the publishes only if they really are fanout-actions.
    const bystander = await FrameClient.connect(server.url);
    const result = await runBench(options(server.url, { action: 'fanout', connections: 20, publishers: 2, rate: 300, batch: 5 }));
    const isFanout = (f: string): boolean => f.startsWith('{"action":"fanout-action"');
    // It may sit on the other worker, a little behind the subscribers: wait for the last one.
    await awaitFrame(bystander, isFanout, 0, result.sent - 1);
    bystander.close();
    assert.equal(bystander.frames.filter(isFanout).length, result.sent);
    assert.ok(result.sent >= 250, `sent ${result.sent}`);
    assert.equal(result.expected, result.sent * 20);
    assertAccounted(result);
    assert.equal(result.delivered, result.expected);
    assert.equal(result.errors, 0, result.errorSamples.join('\n'));
  });

  await t.test('fanout with --action http: each POST /conveyor/message reaches every subscriber once', async () => {
    const result = await runBench(options(server.url, { action: 'http', connections: 20, publishers: 2, rate: 300, batch: 5 }));
    assert.ok(result.sent >= 250, `sent ${result.sent}`);
    assert.equal(result.expected, result.sent * 20);
    assertAccounted(result);
    assert.equal(result.delivered, result.expected);
    assert.equal(result.errors, 0, result.errorSamples.join('\n'));
  });

  await t.test('echo: every request answered once', async () => {
    const result = await runBench(options(server.url, { scenario: 'echo', connections: 10, rate: 300 }));
    assert.ok(result.sent >= 250, `sent ${result.sent}`);
    assert.equal(result.expected, result.sent);
    assertAccounted(result);
    assert.equal(result.delivered, result.sent);
  });

  await t.test('connect: a storm of handshakes, each one open or failed', async () => {
    const result = await runBench(options(server.url, { scenario: 'connect', connections: 200, concurrency: 50 }));
    assert.equal(result.connections.open + result.connections.failed, 200);
    assert.equal(result.connections.failed, 0);
    assert.ok(result.handshakes.perSecond > 0);
    assert.equal(result.handshakes.latency?.count, 200);
  });

  await t.test('idle: connections held, the server RSS read from /health', async () => {
    const result = await runBench(options(server.url, { scenario: 'idle', connections: 100 }));
    assert.equal(result.connections.open, 100);
    assert.equal(result.errors, 0);
    assert.ok(result.memory, 'Conveyor /health reports rss');
    assert.ok(result.memory.before > 0 && result.memory.end > 0);
    // Each process's growth counts, none below zero: at least the total's.
    assert.ok(result.memory.perConnection >= Math.round((result.memory.end - result.memory.before) / 100), JSON.stringify(result.memory));
  });
});

test('--ack: receivers acknowledge every frame, so a server with --ack has nothing to re-send', async (t) => {
  // Re-sent after 0.2 s, three times: receivers that did not acknowledge would hear most frames again within the run.
  const server = await startServer(['--ack', '--ack-timeout', '0.2', '--ack-attempts', '3'], t);
  const result = await runBench(options(server.url, { ack: true, connections: 20, rate: 200, batch: 2 }));
  assert.ok(result.sent >= 150, `sent ${result.sent}`);
  assertAccounted(result);
  assert.equal(result.delivered, result.expected);
  assert.equal(result.errors, 0, result.errorSamples.join('\n'));
  assert.ok(result.repeated < result.delivered / 10, `${result.repeated} repeats of ${result.delivered}: the acknowledgments did not arrive`);
  // And without acknowledging, the same server re-sends: the count above can tell.
  const silent = await runBench(options(server.url, { connections: 20, rate: 200, batch: 2 }));
  assert.ok(silent.repeated > silent.delivered, `${silent.repeated} repeats of ${silent.delivered}`);
});

test('--protocol pusher drives the Pusher mode as pusher-js would, and its counts add up', async (t) => {
  const app = { id: 'bench-app', key: 'bench-key', secret: 'bench-secret-5e1' };
  const config = join(tmpdir(), `conveyor-bench-pusher-${process.pid}.json`);
  // Client events on, at a rate no run here comes near: every publish is a client event.
  writeFileSync(config, JSON.stringify({ pusherApps: [{ ...app, clientEvents: true, clientEventRate: 1_000_000 }] }));
  t.after(() => rmSync(config, { force: true }));
  // --idle-timeout 8: a silent connection gets the server's pusher:ping after 4 s and is closed 2 s later unless it answers.
  const server = await startServer(['--config', config, '--workers', '2', '--idle-timeout', '8'], t);
  const pusher = { protocol: 'pusher', pusherApp: `${app.id}:${app.key}:${app.secret}` } as const;

  // Publishers are subscribed too, but are not receivers: a client event is never echoed, and they count nothing they hear.
  await t.test('fanout, open loop: client events on private channels reach every other subscriber once', () => openLoopFanout(server.url, pusher));

  await t.test('fanout, closed loop at the maximum rate stays within its window', () => closedLoopFanout(server.url, pusher));

  await t.test('fanout with --action http: signed HTTP API events reach every subscriber once', async () => {
    const result = await runBench(options(server.url, { ...pusher, action: 'http', connections: 20, publishers: 2, rate: 300, batch: 5 }));
    assert.ok(result.sent >= 250, `sent ${result.sent}`);
    assertAccounted(result);
    assert.equal(result.delivered, result.expected);
    assert.equal(result.errors, 0, result.errorSamples.join('\n'));
  });

  await t.test('connect: a storm of Pusher handshakes, each one open or failed', async () => {
    const result = await runBench(options(server.url, { ...pusher, scenario: 'connect', connections: 200, concurrency: 50 }));
    assert.equal(result.connections.open + result.connections.failed, 200);
    assert.equal(result.connections.failed, 0, result.errorSamples.join('\n'));
    assert.ok(result.handshakes.perSecond > 0);
    assert.equal(result.handshakes.latency?.count, 200);
  });

  await t.test('idle: Pusher connections held past the server\'s pusher:ping, each answered; the server RSS read from /health', async () => {
    const result = await runBench(options(server.url, { ...pusher, scenario: 'idle', connections: 100, duration: 7 }));
    assert.equal(result.connections.open, 100);
    assert.equal(result.errors, 0, result.errorSamples.join('\n'));
    assert.ok(result.memory, 'Conveyor /health reports rss');
    // Each process's growth counts, none below zero: at least the total's.
    assert.ok(result.memory.perConnection >= Math.round((result.memory.end - result.memory.before) / 100), JSON.stringify(result.memory));
  });

  await t.test('a wrong secret or key fails the set-up with the server\'s own words', async () => {
    await assert.rejects(
      runBench(options(server.url, { ...pusher, pusherApp: `${app.id}:${app.key}:not-the-secret`, connections: 3, publishers: 1 })),
      (error: Error) => error.name === 'BenchRunError' && /\(4 failed: .*pusher:subscription_error.*Invalid signature/.test(error.message),
    );
    await assert.rejects(
      runBench(options(server.url, { ...pusher, pusherApp: `${app.id}:no-such-key:${app.secret}`, scenario: 'connect', connections: 2 })),
      (error: Error) => error.name === 'BenchRunError' && /pusher:error.*4001/.test(error.message),
    );
  });
});

test('the raw and Socket.IO protocols drive the comparison baselines', async (t) => {
  for (const [file, protocol] of [
    ['uws-publish-server.js', 'raw'],
    ['ws-loop-server.js', 'raw'],
    ['socketio-rooms-server.js', 'socketio'],
  ] as const) {
    const server = await startServerProcess([fileURLToPath(new URL(`../scripts/bench-compare/baselines/${file}`, import.meta.url)), '--port', '0']);
    t.after(() => server.stop());
    const result = await runBench(options(`ws://127.0.0.1:${server.port}`, { protocol, connections: 10, publishers: 2, rate: 200 }));
    assert.equal(result.expected, result.sent * 10, file);
    assertAccounted(result);
    assert.equal(result.delivered, result.expected, file);
    await server.stop();
  }
});

test('conveyor bench says what to do when the server is not there or an option is wrong', async () => {
  const run = async (args: string[]): Promise<{ code: number | null; stderr: string }> => {
    const child = spawn(process.execPath, [CLI, 'bench', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    return { code, stderr };
  };
  // Port 1 on loopback has no server: every handshake is refused.
  const refused = await run(['--url', 'ws://127.0.0.1:1', '--connections', '2', '--progress', 'false']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /no connection to ws:\/\/127\.0\.0\.1:1 could be set up .*ECONNREFUSED.*Is the server running/);
  const tooSmall = await run(['--payload', '8']);
  assert.equal(tooSmall.code, 2);
  assert.match(tooSmall.stderr, /--payload must be a whole number from 32 .*stamp/);
  const echoRaw = await run(['echo', '--protocol', 'raw']);
  assert.match(echoRaw.stderr, /echo scenario needs .*--protocol conveyor/);
  const echoPusher = await run(['echo', '--protocol', 'pusher', '--pusher-app', 'a:b:c']);
  assert.equal(echoPusher.code, 2);
  assert.match(echoPusher.stderr, /^conveyor bench: the echo scenario needs .*--protocol conveyor \(Pusher never echoes a client event to its sender\)\n$/);
  const noApp = await run(['--protocol', 'pusher']);
  assert.equal(noApp.code, 2);
  assert.match(noApp.stderr, /--protocol pusher needs --pusher-app ID:KEY:SECRET/);
  const fanoutChannels = await run(['--action', 'fanout', '--channels', '2']);
  assert.equal(fanoutChannels.code, 2);
  assert.match(fanoutChannels.stderr, /--action fanout reaches every socket, not a channel: use --channels 1 \(got 2\)/);
});
