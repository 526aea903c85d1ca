import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { NATIVE_BUILDS, isNativeBinding, runtime, uws } from '../src/transport/uws.js';
import { CLI } from './helpers/server.js';

const require = createRequire(import.meta.url);

test('the server runs on the native uWebSockets.js binding, not the pure-JS fallback', () => {
  assert.equal(isNativeBinding(uws), true, 'native binding loaded');
  // The check tells the two apart: the package's fallback module is not native.
  const fallback: unknown = require('uWebSockets.js/dist/index.js');
  assert.equal(isNativeBinding(fallback), false);
});

test('the server refuses to start on the slow fallback, saying why', { skip: runtime.uws !== NATIVE_BUILDS[0]!.label ? 'only the Node 16–20 build has a pure-JS fallback' : false }, () => {
  const result = spawnSync(process.execPath, [CLI, 'start', '--port', '0'], {
    env: { ...process.env, UWS_USE_FALLBACK: '1' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(result.status, 1);
  assert.match(result.stderr, /^conveyor: no native uWebSockets\.js build fits Node v20\.\d+\.\d+ \(ABI 115\) on linux-x64 with glibc \d+\.\d+: @trufflesuite\/uws-js-unofficial 20\.30: uWebSockets\.js native binding did not load; refusing the slow pure-JS fallback/);
  assert.equal(result.stderr.trim().split('\n').length, 1, 'one line');
});

test('/health says which Node and which native build serve', async (t) => {
  const { startServer } = await import('./helpers/server.js');
  const { fetchHealth } = await import('./helpers/server-health.js');
  const server = await startServer([], t);
  const health = (await fetchHealth(server)) as unknown as { runtime: { node: string; uws: string } };
  assert.deepEqual(health.runtime, { node: process.version, uws: runtime.uws });
});
