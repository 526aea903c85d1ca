import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, readdirSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { FrameClient } from './helpers/frame-client.js';
import { CLI } from './helpers/server.js';

const TOKEN = 'log-file-secret-9d2c';

/** Every log line in the files of `dir` whose names match, parsed; fails on a line that is not whole JSON. */
function linesIn(dir: string, match: (name: string) => boolean): { file: string; line: Record<string, unknown> }[] {
  const out: { file: string; line: Record<string, unknown> }[] = [];
  for (const file of readdirSync(dir).filter(match).sort()) {
    const text = readFileSync(join(dir, file), 'utf8');
    assert.ok(text === '' || text.endsWith('\n'), `${file} ends in a cut line`);
    for (const raw of text.split('\n').filter((l) => l !== '')) {
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        assert.fail(`${file} holds a line that is not whole JSON: ${raw.slice(0, 200)}`);
      }
      out.push({ file, line });
    }
  }
  return out;
}

/** Starts `conveyor start` logging to a file; resolves with the port once the file says it listens. */
async function startLogging(t: TestContext, dir: string, flags: string[], isLogFile: (name: string) => boolean): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [CLI, 'start', '--port', '0', '--token', TOKEN, '--log-level', 'debug', ...flags], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'exit');
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    const listening = existsSync(dir) ? linesIn(dir, isLogFile).find(({ line }) => line['msg'] === 'conveyor listening') : undefined;
    if (listening) return { child, port: Number(listening.line['port']) };
    assert.ok(child.exitCode === null, 'the server exited before listening');
    assert.ok(Date.now() < deadline, 'the log file never said the server listens');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Opens and closes `count` connections; resolves with their fds once the server logged each close. */
async function churn(port: number, count: number): Promise<number[]> {
  const fds: number[] = [];
  for (let i = 0; i < count; i++) {
    const client = await FrameClient.connect(`ws://127.0.0.1:${port}/?token=${TOKEN}`);
    fds.push(client.fd);
    client.close();
    await client.closed;
  }
  return fds;
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  assert.equal(code, 0);
}

/** Each fd's open and close lines appear exactly once across all files. */
function assertEachOnce(lines: { line: Record<string, unknown> }[], fds: number[]): void {
  for (const msg of ['connection open', 'connection closed']) {
    const seen = new Map<number, number>();
    for (const { line } of lines) if (line['msg'] === msg) seen.set(Number(line['fd']), (seen.get(Number(line['fd'])) ?? 0) + 1);
    for (const fd of fds) assert.equal(seen.get(fd), 1, `"${msg}" of fd ${fd} is in the files ${seen.get(fd) ?? 0} times`);
  }
}

test('--log-file with --log-rotate-size: the primary\'s and both workers\' lines land in numbered files, each line in exactly one, whole, and no token in any', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-logs-'));
  const isLog = (name: string): boolean => /^conveyor\.\d+\.log$/.test(name);
  const { child, port } = await startLogging(t, dir, ['--workers', '2', '--log-file', join(dir, 'conveyor.log'), '--log-rotate-size', '16k', '--log-rotate-keep', '1000'], isLog);
  const fds = await churn(port, 150);
  await stop(child);
  const files = readdirSync(dir).filter(isLog);
  assert.ok(files.length >= 3, `the log rotated: ${files.join(', ')}`);
  assert.ok(existsSync(join(dir, 'current.log')), 'current.log points at the newest file');
  const lines = linesIn(dir, isLog);
  assertEachOnce(lines, fds);
  assert.ok(lines.some(({ line }) => line['role'] === 'primary') && lines.some(({ line }) => line['worker'] !== undefined), 'the primary and the workers log into the same files');
  assert.ok(lines.some(({ line }) => line['msg'] === 'stopped'), 'the last line before exit is in the file');
  for (const file of readdirSync(dir)) assert.ok(!readFileSync(join(dir, file), 'utf8').includes(TOKEN), `the token is in ${file}`);
});

test('--log-file without rotation: after logrotate moves the file away, SIGUSR2 reopens it, and every line is in one of the two files exactly once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-logs-'));
  const file = join(dir, 'conveyor.log');
  const isLog = (name: string): boolean => name.startsWith('conveyor.log');
  const { child, port } = await startLogging(t, dir, ['--log-file', file], isLog);
  const before = await churn(port, 20);
  renameSync(file, `${file}.1`);
  // Until the reopen, lines still go to the moved file, as logrotate expects.
  const during = await churn(port, 5);
  child.kill('SIGUSR2');
  for (let i = 0; !existsSync(file) || !readFileSync(file, 'utf8').includes('log file reopened'); i++) {
    assert.ok(i < 400, 'SIGUSR2 never reopened the file');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const after = await churn(port, 20);
  await stop(child);
  const lines = linesIn(dir, isLog);
  assertEachOnce(lines, [...before, ...during, ...after]);
  const inNew = new Set(lines.filter(({ file: f }) => f === 'conveyor.log').map(({ line }) => Number(line['fd'])));
  for (const fd of after) assert.ok(inNew.has(fd), `fd ${fd}, opened after the reopen, is in the new file`);
});
