import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import WebSocket from 'ws';
import { CLI, startServer } from './helpers/server.js';

/** A self-signed certificate for 127.0.0.1, made with openssl for this run only. */
function makeCertificate(t: { after(fn: () => void): void }, passphrase?: string): { cert: string; key: string; ca: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', key, '-out', cert,
    ...(passphrase ? ['-passout', `pass:${passphrase}`] : ['-nodes']),
  ], { stdio: 'ignore' });
  return { cert, key, ca: readFileSync(cert) };
}

test('--tls-cert and --tls-key serve wss:// and https:// (an encrypted key with --tls-passphrase)', async (t) => {
  const { cert, key, ca } = makeCertificate(t, 'sesame');
  const server = await startServer(['--tls-cert', cert, '--tls-key', key, '--tls-passphrase', 'sesame'], t);
  const ws = new WebSocket(`wss://127.0.0.1:${server.port}`, 'socketconveyor.com', { ca });
  t.after(() => ws.close());
  const frames: string[] = [];
  const next = (): Promise<string> => new Promise((resolve) => ws.once('message', (data) => resolve(data.toString())));
  const info = JSON.parse(await next()) as { action: string; data: string };
  assert.equal(info.action, 'connection-info');
  const { fd } = JSON.parse(info.data) as { fd: number };
  ws.send(JSON.stringify({ action: 'base-action', data: 'over tls' }));
  frames.push(await next());
  assert.deepEqual(JSON.parse(frames[0]!), { action: 'base-action', data: 'over tls', fd });

  const body = await new Promise<string>((resolve, reject) => {
    request(`https://127.0.0.1:${server.port}/health`, { ca }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve(text));
    })
      .on('error', reject)
      .end();
  });
  assert.equal((JSON.parse(body) as { status: string }).status, 'ok');
  assert.ok(!server.rawOutput.some((line) => line.includes('sesame')), 'the passphrase never reaches the logs');
});

test('TLS options are checked at start: one without the other, or a missing file, is one line and exit 2', () => {
  const only = spawnSync(process.execPath, [CLI, 'start', '--port', '0', '--tls-cert', '/etc/hostname'], { encoding: 'utf8' });
  assert.equal(only.status, 2);
  assert.equal(only.stderr.trim(), 'conveyor: options --tls-cert and --tls-key go together: give both to serve TLS, or neither');
  const missing = spawnSync(process.execPath, [CLI, 'start', '--port', '0', '--tls-cert', '/nonexistent/cert.pem', '--tls-key', '/etc/hostname'], { encoding: 'utf8' });
  assert.equal(missing.status, 2);
  assert.equal(missing.stderr.trim(), 'conveyor: option --tls-cert: no file at /nonexistent/cert.pem');
});

test('a peer that stops answering pings is closed after --idle-timeout; a half-sent handshake is dropped too', async (t) => {
  const server = await startServer(['--idle-timeout', '8'], t);
  // A raw socket completes the upgrade and then never reads or answers anything.
  const silent = connect(server.port, '127.0.0.1');
  silent.write(
    'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  let received = '';
  silent.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  // Slowloris: headers that never finish.
  const slow = connect(server.port, '127.0.0.1');
  slow.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n');
  slow.on('data', () => {});
  const closed = (socket: typeof silent): Promise<void> =>
    new Promise((resolve) => {
      socket.once('close', () => resolve());
      socket.once('error', () => {});
    });
  await Promise.all([closed(silent), closed(slow)]);
  assert.match(received, /^HTTP\/1\.1 101 Switching Protocols/);
  // The server pinged before giving up: a ping frame (0x89) followed the connection-info.
  assert.ok(received.includes('\x89'), 'the server sent a ping');
  const log = await server.waitForLog((l) => l['msg'] === 'connection closed');
  assert.equal(typeof log['fd'], 'number');
});
