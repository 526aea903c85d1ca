import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { CLI, startServer } from './helpers/server.js';

function runCli(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stderr: string; stdout: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, stderr: result.stderr, stdout: result.stdout };
}

function configFile(content: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-config-'));
  const path = join(dir, 'conveyor.json');
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

describe('conveyor start: invalid configuration exits 2 with one line naming the option', () => {
  const cases: { name: string; args: string[]; env?: NodeJS.ProcessEnv; says: RegExp }[] = [
    { name: 'port out of range', args: ['--port', '70000'], says: /^conveyor: option --port must be between 0 and 65535, got 70000$/ },
    { name: 'negative timeout', args: ['--ack-timeout', '-1'], says: /^conveyor: option --ack-timeout must be between 0\.01 and 3600, got -1$/ },
    { name: 'fractional worker count', args: ['--workers', '1.5'], says: /option "workers" must be a whole number/ },
    { name: 'unknown flag', args: ['--bogus-flag'], says: /^conveyor: Unknown argument: bogus-flag$/ },
    { name: 'bad environment value', args: [], env: { CONVEYOR_PORT: 'abc' }, says: /environment variable CONVEYOR_PORT for "port" must be a number, got "abc"/ },
    { name: 'bad log level', args: ['--log-level', 'loud'], says: /option --log-level must be one of fatal, error, warn, info, debug, trace, silent/ },
    { name: 'idle timeout too short', args: ['--idle-timeout', '3'], says: /option --idle-timeout must be 0 \(off\) or 8 or more/ },
    { name: 'trust-proxy entry that is no address', args: ['--trust-proxy', '127.0.0.1, proxy.local'], says: /^conveyor: option --trust-proxy: "proxy.local" is not an IP address or CIDR \(such as 127\.0\.0\.1, 10\.0\.0\.0\/8 or ::1\)$/ },
    { name: 'redis URL of another scheme, its password not echoed', args: ['--redis', 'http://:hunter2-secret@10.0.0.5:6379'], says: /^conveyor: option --redis must use redis:\/\/ or rediss:\/\/$/ },
    { name: 'redis-prefix with a space', args: ['--redis-prefix', 'my app'], says: /^conveyor: option --redis-prefix must be 1 to 64 letters, digits, dots, dashes or underscores, got "my app"$/ },
    { name: 'pusher app without a secret', args: ['--pusher-app', 'id:key'], says: /^conveyor: option --pusher-app must be ID:KEY:SECRET/ },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const result = runCli(['start', ...c.args], c.env);
      assert.equal(result.status, 2, result.stderr);
      assert.match(result.stderr.split('\n')[0]!, c.says);
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    });
  }

  test('unknown key in the config file', () => {
    const result = runCli(['start', '--config', configFile({ port: 1, bogus: true })]);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /config file .*conveyor\.json: unknown option "bogus"/);
  });

  test('config file that is not JSON', () => {
    const result = runCli(['start', '--config', configFile('{port: 1')]);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /config file .*conveyor\.json is not valid JSON/);
  });
});

test('precedence: defaults < config file < CONVEYOR_* environment < flags', async (t) => {
  const file = configFile({ 'ack-attempts': 5, ackTimeout: 2, presence: true, 'presence-max-members': 9 });
  const server = await startServer(['--config', file, '--ack-timeout', '3'], t, { CONVEYOR_ACK_ATTEMPTS: '7', CONVEYOR_PRESENCE_MAX_MEMBERS: '11' });
  const starting = await server.waitForLog((l) => l['msg'] === 'starting');
  const config = starting['config'] as Record<string, unknown>;
  assert.equal(config['ackTimeout'], 3, 'flag beats file');
  assert.equal(config['ackAttempts'], 7, 'environment beats file');
  assert.equal(config['presenceMaxMembers'], 11, 'environment beats file');
  assert.equal(config['presence'], true, 'file beats default');
  assert.equal(config['broadcastSelf'], false, 'default');
  // No secret was given: the log must not claim one is hidden.
  for (const secret of ['token', 'metricsToken', 'tlsPassphrase']) assert.equal(config[secret], undefined, secret);
});

test('a port already in use is one clear line and exit 1, not a stack trace', async (t) => {
  const first = await startServer([], t);
  const result = runCli(['start', '--port', String(first.port), '--log-level', 'warn']);
  assert.equal(result.status, 1);
  assert.match(result.stderr, new RegExp(`^conveyor: cannot listen on 127\\.0\\.0\\.1:${first.port}: the address is in use\\. Stop the other server or choose another --port or --host\\.`));
  assert.doesNotMatch(result.stderr, /\n\s+at /);
  const health = (await (await fetch(`${first.httpUrl}/health`)).json()) as { status: string };
  assert.equal(health.status, 'ok', 'the first server still serves');
});

test('--help lists every option with its default', () => {
  const result = runCli(['start', '--help']);
  assert.equal(result.status, 0);
  for (const flag of ['--host', '--port', '--workers', '--task-workers', '--presence', '--ack', '--ack-attempts', '--ack-timeout', '--token', '--temp-token-ttl', '--broadcast-self', '--presence-max-members', '--max-payload', '--idle-timeout', '--log-level', '--config', '--shutdown-timeout']) {
    assert.match(result.stdout, new RegExp(`\\s${flag}\\s`), `${flag} in help`);
  }
  assert.match(result.stdout, /\[default: 8989\]/);
});
