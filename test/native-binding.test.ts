import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { isNativeBinding, uws } from '../src/transport/uws.js';
import { CLI } from './helpers/server.js';

const require = createRequire(import.meta.url);

test('the server runs on the native uWebSockets.js binding, not the pure-JS fallback', () => {
  assert.equal(isNativeBinding(uws), true, 'native binding loaded');
  // The check tells the two apart: the package's fallback module is not native.
  const fallback: unknown = require('uWebSockets.js/dist/index.js');
  assert.equal(isNativeBinding(fallback), false);
});

test('the server refuses to start on the slow fallback, saying why', () => {
  const result = spawnSync(process.execPath, [CLI, 'start', '--port', '0'], {
    env: { ...process.env, UWS_USE_FALLBACK: '1' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(result.status, 1);
  assert.match(result.stderr, /uWebSockets\.js native binding did not load .* refusing the slow pure-JS fallback/);
});
