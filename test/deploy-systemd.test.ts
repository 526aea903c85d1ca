import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { replaceExactly, tempDir } from './helpers/nginx.js';
import { CLI, startServer } from './helpers/server.js';

/**
 * docs/deploy's systemd units and environment file: systemd-analyze accepts the units, they say
 * what the deployment guide promises, and a real server started with the environment file
 * reloads on the unit's ExecReload and stops well within its TimeoutStopSec.
 */

const root = (path: string): string => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const UNITS = ['conveyor.service', 'conveyor@.service'] as const;
const unitText = (name: string): string => readFileSync(root(`docs/deploy/${name}`), 'utf8');

/** A unit's [Service] directives, each with every value it is given, in order. */
function serviceSection(text: string): Map<string, string[]> {
  const directives = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    if (section !== 'Service') continue;
    const at = line.indexOf('=');
    assert.ok(at > 0, `not a directive: ${line}`);
    const key = line.slice(0, at).trim();
    directives.set(key, [...(directives.get(key) ?? []), line.slice(at + 1).trim()]);
  }
  return directives;
}

/** The one value of a directive given once. */
function single(directives: Map<string, string[]>, key: string): string {
  const values = directives.get(key);
  assert.equal(values?.length, 1, `${key} is set once: ${JSON.stringify(values)}`);
  return values[0]!;
}

/** systemd's time span in seconds, as far as a unit here writes one: 30, 30s, 2min, 1min 30s. */
function seconds(span: string): number {
  let total = 0;
  const parts = span.trim().split(/\s+/);
  for (const part of parts) {
    const match = /^(\d+(?:\.\d+)?)(s|sec|m|min)?$/.exec(part);
    assert.ok(match, `a time span this test reads: ${span}`);
    total += Number(match[1]) * (match[2] === 'm' || match[2] === 'min' ? 60 : 1);
  }
  return total;
}

/** conveyor.env's assignments, as systemd's EnvironmentFile= reads these plain lines. */
function envFile(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of readFileSync(root('docs/deploy/conveyor.env'), 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    assert.ok(match, `an assignment: ${line}`);
    env[match[1]!] = match[2]!;
  }
  return env;
}

/** The options of README.md's option table: flag and environment variable. */
function documentedOptions(): { flags: Set<string>; variables: Set<string> } {
  const flags = new Set<string>();
  const variables = new Set<string>();
  for (const line of readFileSync(root('README.md'), 'utf8').split('\n')) {
    const row = /^\| `(--[a-z-]+)` \| [^|]* \| `(CONVEYOR_[A-Z_]+)` \|/.exec(line);
    if (row) {
      flags.add(row[1]!);
      variables.add(row[2]!);
    }
  }
  assert.ok(flags.size > 30, `README.md's option table was found (${flags.size} rows)`);
  return { flags, variables };
}

/**
 * A copy of a unit that systemd-analyze can check on this machine: verify insists that
 * ExecStart's program exists, so node and the CLI are this checkout's.
 */
function verifiable(dir: string, name: string, text = unitText(name)): string {
  let copy = replaceExactly(text, 'ExecStart=/usr/bin/node ', `ExecStart=${process.execPath} `);
  copy = replaceExactly(copy, ' /opt/conveyor/dist/bin/conveyor.js ', ` ${CLI} `);
  writeFileSync(join(dir, name), copy);
  // A template is checked as one of its instances, so that %i is filled in.
  return join(dir, name.replace('@.', '@1.'));
}

function verify(path: string): { status: number | null; output: string } {
  const run = spawnSync('systemd-analyze', ['verify', '--man=no', path], { encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

test('systemd-analyze verify accepts conveyor.service and conveyor@.service, and does read them', (t) => {
  const dir = tempDir(t, 'conveyor-units-');
  for (const name of UNITS) {
    const { status, output } = verify(verifiable(dir, name));
    const ours = output.split('\n').filter((line) => line.includes('conveyor'));
    assert.deepEqual(ours, [], `systemd-analyze on ${name}:\n${output}`);
    assert.equal(status, 0, `systemd-analyze on ${name}:\n${output}`);
  }
  // The same check on a broken copy does complain: verify read the unit's directives.
  const broken = tempDir(t, 'conveyor-units-broken-');
  for (const name of UNITS) {
    const { output } = verify(verifiable(broken, name, replaceExactly(unitText(name), 'KillMode=mixed', 'KillMode=mixd')));
    assert.match(output, /kill mode.*mixd/i, `systemd-analyze on a broken ${name}:\n${output}`);
  }
});

test('the units run the CLI as the conveyor user with conveyor.env, reload with SIGHUP, stop with SIGTERM within TimeoutStopSec, and are sandboxed', () => {
  const env = envFile();
  const drain = Number(env['CONVEYOR_DRAIN_DELAY'] ?? 0);
  const shutdown = Number(env['CONVEYOR_SHUTDOWN_TIMEOUT'] ?? 10);
  const units = UNITS.map((name) => ({ name, directives: serviceSection(unitText(name)) }));
  for (const { name, directives } of units) {
    const at = (key: string): string => single(directives, key);
    assert.match(at('ExecStart'), /^\/\S+\/node \/opt\/conveyor\/dist\/bin\/conveyor\.js start$/, name);
    assert.equal(at('ExecReload'), '/bin/kill -HUP $MAINPID', name);
    assert.equal(at('KillSignal'), 'SIGTERM', name);
    assert.equal(at('KillMode'), 'mixed', name);
    // The primary's own grace before it kills a worker that did not drain is 2 s.
    assert.ok(seconds(at('TimeoutStopSec')) > drain + shutdown + 2, `${name}: TimeoutStopSec=${at('TimeoutStopSec')} leaves the drain (${drain} s + ${shutdown} s + 2 s) time to finish`);
    assert.ok(Number(at('LimitNOFILE')) >= 65536, `${name}: LimitNOFILE`);
    assert.equal(directives.get('EnvironmentFile')?.[0], '/etc/conveyor/conveyor.env', name);
    assert.equal(at('User'), 'conveyor', name);
    assert.equal(at('Group'), 'conveyor', name);
    assert.equal(at('Restart'), 'on-failure', name);
    assert.equal(at('MemoryDenyWriteExecute'), 'no', `${name}: V8 needs memory it writes and then runs`);
    assert.equal(at('ProtectSystem'), 'strict', name);
    assert.deepEqual(at('RestrictAddressFamilies').split(/\s+/).sort(), ['AF_INET', 'AF_INET6', 'AF_UNIX'], name);
    for (const key of ['NoNewPrivileges', 'ProtectHome', 'PrivateTmp', 'PrivateDevices', 'ProtectKernelTunables', 'ProtectKernelModules', 'ProtectControlGroups', 'RestrictNamespaces', 'LockPersonality']) {
      assert.equal(at(key), 'yes', `${name}: ${key}`);
    }
    assert.equal(at('SystemCallArchitectures'), 'native', name);
    assert.ok(at('ReadWritePaths').startsWith(`/var/log/${at('LogsDirectory')}`), `${name}: the log directory is created (LogsDirectory) and writable`);
  }
  // The template is the plain unit plus its instance's own file and log directory: they cannot drift apart.
  const [plain, template] = units.map((u) => u.directives);
  const instanceOnly = new Set(['EnvironmentFile', 'LogsDirectory', 'ReadWritePaths']);
  const rest = (directives: Map<string, string[]>): [string, string[]][] => [...directives].filter(([key]) => !instanceOnly.has(key));
  assert.deepEqual(rest(template!), rest(plain!));
  assert.deepEqual(template!.get('EnvironmentFile'), ['/etc/conveyor/conveyor.env', '/etc/conveyor/conveyor-%i.env']);
});

test('docs/deploy names only options of the README option table', () => {
  const { flags, variables } = documentedOptions();
  for (const file of ['conveyor.env', 'conveyor.service', 'conveyor@.service', 'nginx.conf', 'README.md']) {
    const text = readFileSync(root(`docs/deploy/${file}`), 'utf8');
    for (const [variable] of text.matchAll(/\bCONVEYOR_[A-Z_]+\b/g)) assert.ok(variables.has(variable), `${file} names ${variable}, which README.md's option table does not have`);
    for (const [flag] of text.matchAll(/(?<![\w-])--[a-z][a-z-]+/g)) {
      // Other programs' flags in the walkthrough's commands.
      if (['--version', '--now', '--system', '--user-group', '--no-create-home', '--home-dir', '--shell', '--resolve'].includes(flag)) continue;
      assert.ok(flags.has(flag), `${file} names ${flag}, which README.md's option table does not have`);
    }
  }
});

test('a server started with conveyor.env reloads on ExecReload (SIGHUP) and stops on SIGTERM after its drain, well within TimeoutStopSec', async (t) => {
  const env = envFile();
  const timeoutStop = seconds(single(serviceSection(unitText('conveyor.service')), 'TimeoutStopSec'));
  const drain = Number(env['CONVEYOR_DRAIN_DELAY']);
  // The file's own values, but a free port: startServer passes --port 0, which wins over CONVEYOR_PORT.
  const server = await startServer([], t, env);
  const token = env['CONVEYOR_TOKEN']!;
  const ready = await fetch(`${server.httpUrl}/ready`);
  assert.equal(ready.status, 200);
  assert.equal((await fetch(`${server.httpUrl}/health`)).status, 401);
  assert.equal((await fetch(`${server.httpUrl}/health?token=${encodeURIComponent(env['CONVEYOR_METRICS_TOKEN']!)}`)).status, 200);

  const open = async (): Promise<{ ws: WebSocket; closed: Promise<number> }> => {
    const ws = new WebSocket(`${server.url}/?token=${encodeURIComponent(token)}`, 'socketconveyor.com');
    t.after(() => ws.close());
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => ws.once('message', () => resolve()).once('error', reject));
    return { ws, closed };
  };

  // ExecReload, as systemd runs it with $MAINPID set: the workers are replaced, their clients told 1012.
  const before = await open();
  const reload = single(serviceSection(unitText('conveyor.service')), 'ExecReload').replace('$MAINPID', String(server.process.pid));
  const [program, ...args] = reload.split(' ');
  execFileSync(program!, args);
  assert.equal(await before.closed, 1012);
  await server.waitForLog((l) => l['msg'] === 'rolling restart done');

  // KillSignal to the primary alone (KillMode=mixed): /ready turns 503, then sockets get 1001 and it exits 0.
  const after = await open();
  const started = Date.now();
  const stopped = server.stop('SIGTERM');
  for (let i = 0; ; i++) {
    if ((await fetch(`${server.httpUrl}/ready`)).status === 503) break;
    assert.ok(i < 200, '/ready never answered 503');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(await after.closed, 1001);
  assert.equal(await stopped, 0);
  const took = (Date.now() - started) / 1000;
  assert.ok(took >= drain - 0.5, `the drain delay was kept (${took} s)`);
  assert.ok(took < timeoutStop, `stopped in ${took} s, within TimeoutStopSec=${timeoutStop}`);
});
