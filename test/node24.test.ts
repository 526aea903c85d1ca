import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * The server and the protocol suites on Node 24, with its uWebSockets.js build, in the
 * Debian 13 root the test set-up made (glibc 2.41: this machine's own may be too old for
 * that build). The checkout is bind-mounted into the root at its own path, so the very same
 * compiled tests run there; they start their servers with the root's Node 24.
 */
const ROOT = '/var/cache/conveyor-test/trixie-root';
const CHECKOUT = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');
const SUITES = [
  'native-binding',
  'async-handshakes',
  'protocol-actions',
  'protocol-errors',
  'protocol-presence',
  'protocol-acks',
  'protocol-http',
  'protocol-tokens',
  'pusher-clients',
  'pusher-errors',
  'embedding',
].map((name) => join(CHECKOUT, 'dist', 'test', `${name}.test.js`));

const mounts: string[] = [];

function mount(args: string[], target: string): void {
  mkdirSync(target, { recursive: true });
  const result = spawnSync('mount', [...args, target], { encoding: 'utf8' });
  assert.equal(result.status, 0, `mount ${args.join(' ')} ${target}: ${result.stderr}`);
  mounts.push(target);
}

before(() => {
  const version = spawnSync(join(ROOT, 'usr/local/bin/node'), ['--version'], { encoding: 'utf8' });
  assert.match(version.stdout, /^v24\./, `the test set-up (scripts/setup-test.sh) puts Node 24 in ${ROOT}`);
  mount(['--bind', CHECKOUT], join(ROOT, CHECKOUT));
  mount(['-t', 'proc', 'proc'], join(ROOT, 'proc'));
  mount(['--bind', '/dev'], join(ROOT, 'dev'));
});

after(() => {
  // Lazily, newest first: a process of a failed run may still hold one.
  for (const target of mounts.reverse()) spawnSync('umount', ['-l', target]);
});

test('on Node 24 with the @btc-vision build: the protocol, Pusher and embedding suites pass', { timeout: 600_000 }, async (t) => {
  // Without this runner's own marker: the inner runner would take itself for one of its test files.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'NODE_TEST_CONTEXT'));
  const child = spawn('chroot', [ROOT, '/usr/local/bin/node', '--test', '--test-concurrency=1', '--test-timeout=120000', '--test-reporter=tap', ...SUITES], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const count = (name: string): number => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(output)?.[1] ?? NaN);
  t.diagnostic(`Node 24: ${count('pass')} passed, ${count('fail')} failed, ${count('skipped')} skipped`);
  const failures = output.split('\n').filter((line) => /^\s*not ok/.test(line) && !line.includes('# TODO')).join('\n');
  assert.equal(code, 0, `the suites failed on Node 24:\n${failures}\n${output.slice(-3000)}`);
  assert.equal(count('fail'), 0);
  assert.ok(count('pass') > 100, `${count('pass')} tests passed on Node 24`);
  // The runtime in /health of those servers was Node 24 with the second build: native-binding asserts it against the running Node.
  assert.match(output, /ok \d+ - \/health says which Node and which native build serve/);
});
