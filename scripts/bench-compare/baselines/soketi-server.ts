import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { announce, exitOnSignals, portFromArgs } from './baseline-cli.js';

/**
 * Soketi 1.6.1, the Pusher-protocol server the comparison puts beside Conveyor's Pusher
 * mode. Installed on first use from npm into a folder of its own, with its uWebSockets.js
 * (a GitHub dependency, which this machine cannot reach) aliased through npm `overrides` to
 * the build Conveyor uses; it runs only when that build's native binding loads.
 */
const VERSION = '1.6.1';
const UWS = 'npm:@trufflesuite/uws-js-unofficial@20.30.0-unofficial.0';

function fail(message: string): never {
  process.stderr.write(`soketi baseline: ${message}\n`);
  process.exit(1);
}

function install(dir: string): void {
  // Written last: an install that was interrupted is done again.
  const done = join(dir, '.installed');
  if (existsSync(done)) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'conveyor-bench-soketi', private: true, dependencies: { '@soketi/soketi': VERSION }, overrides: { 'uWebSockets.js': UWS } }));
  process.stderr.write(`soketi baseline: installing @soketi/soketi@${VERSION} into ${dir}\n`);
  const npm = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel', 'error'], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
  if (npm.status !== 0) fail(`npm install failed (exit ${npm.status}); run it by hand in ${dir} to see why`);
  writeFileSync(done, `${VERSION}\n`);
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const dir = join(tmpdir(), `conveyor-bench-soketi-${VERSION}`);
install(dir);
// The comparison installs it before timing anything: npm takes longer than a server may take to start.
if (process.argv.includes('--install-only')) process.exit(0);
const require = createRequire(join(dir, 'package.json'));
const uws = require('uWebSockets.js') as { SSLApp?: unknown; getParts?: unknown };
// The fallback of that package is a slow server on `ws`: measuring it would say nothing of Soketi.
if (typeof uws.SSLApp !== 'function' || typeof uws.getParts !== 'function') fail('the native uWebSockets.js build did not load; refusing to measure its pure-JS fallback');
const { Server } = require('@soketi/soketi') as { Server: new (options: Record<string, unknown>) => { start(): Promise<void>; stop(): Promise<void> } };

/** `--app ID:KEY:SECRET`: the app the load generator signs its subscriptions with. */
function appFromArgs(): { id: string; key: string; secret: string } {
  const at = process.argv.indexOf('--app');
  const [id, key, secret] = (at >= 0 ? process.argv[at + 1] ?? '' : '').split(':');
  if (!id || !key || !secret) fail('--app ID:KEY:SECRET is required');
  return { id, key, secret };
}

const app = appFromArgs();
const port = portFromArgs() || (await freePort());
const server = new Server({
  host: '127.0.0.1',
  port,
  // Its /usage endpoint listens on a port of its own: a free one, so that runs never collide.
  'metrics.port': await freePort(),
  'appManager.array.apps': [{ ...app, enabled: true, enableClientMessages: true, maxConnections: -1, maxClientEventsPerSecond: -1, maxBackendEventsPerSecond: -1, maxReadRequestsPerSecond: -1 }],
});
await server.start();
exitOnSignals(() => void server.stop());
announce('soketi', port);
