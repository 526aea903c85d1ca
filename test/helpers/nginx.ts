import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request, Agent } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import pusherJs from 'pusher-js';

/** Debian's nginx, which scripts/setup-test.sh installs (and never starts as a service). */
export const NGINX = '/usr/sbin/nginx';
/** The shipped site file, as a reader copies it to /etc/nginx/sites-available/. */
export const SITE_FILE = fileURLToPath(new URL('../../../docs/deploy/nginx.conf', import.meta.url));

type After = { after(fn: () => void | Promise<void>): void };

/** A temporary directory removed after the test. */
export function tempDir(t: After, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A self-signed certificate for 127.0.0.1 and localhost, made with openssl for this run; it is its own CA. */
export function makeCertificate(dir: string): { cert: string; key: string; ca: Buffer } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  return { cert, key, ca: readFileSync(cert) };
}

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * Replaces `from` by `to`, and fails unless `from` occurs exactly `times` times: when the shipped
 * file changes, the test says which of its substitutions no longer applies instead of testing
 * something else.
 */
export function replaceExactly(text: string, from: string, to: string, times = 1): string {
  const found = text.split(from).length - 1;
  if (found !== times) throw new Error(`expected ${JSON.stringify(from)} ${times} time(s) in the shipped file, found it ${found} time(s): update the test's substitutions with the file`);
  return text.split(from).join(to);
}

export interface SitePorts {
  https: number;
  http: number;
  nodes: [number, number];
}

/**
 * docs/deploy/nginx.conf with its placeholders replaced the way its header tells a reader to:
 * the host name, the certificate, the nodes' ports, and (for a test) loopback listen addresses
 * on free ports instead of every interface on 80 and 443.
 */
export function substituteSite(site: string, ports: SitePorts, tls: { cert: string; key: string }): string {
  let text = site;
  text = replaceExactly(text, 'listen 443 ssl;', `listen 127.0.0.1:${ports.https} ssl;`);
  text = replaceExactly(text, 'listen [::]:443 ssl;', '');
  text = replaceExactly(text, 'listen 80;', `listen 127.0.0.1:${ports.http};`);
  text = replaceExactly(text, 'listen [::]:80;', '');
  text = replaceExactly(text, '/etc/letsencrypt/live/conveyor.example.com/fullchain.pem', tls.cert);
  text = replaceExactly(text, '/etc/letsencrypt/live/conveyor.example.com/privkey.pem', tls.key);
  text = replaceExactly(text, 'server_name conveyor.example.com;', 'server_name localhost;', 2);
  text = replaceExactly(text, '127.0.0.1:8989', `127.0.0.1:${ports.nodes[0]}`);
  text = replaceExactly(text, '127.0.0.1:8990', `127.0.0.1:${ports.nodes[1]}`);
  const directives = text.split('\n').filter((line) => !line.trim().startsWith('#'));
  const left = directives.filter((line) => /example\.com|\b8989\b|\b8990\b/.test(line));
  if (left.length > 0) throw new Error(`placeholders of the shipped file were left unreplaced: ${left.join(' | ')}`);
  return text;
}

/**
 * The smallest main configuration around a site file: what /etc/nginx/nginx.conf gives it on a
 * real host (an http block), with the pid file, logs and temporary files in `dir`.
 */
export function mainConfig(dir: string, site: string): string {
  return `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events {
    worker_connections 256;
}
http {
    access_log ${dir}/access.log;
    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
${site}
}
`;
}

export interface RunningNginx {
  readonly ports: SitePorts;
  readonly dir: string;
  readonly process: ChildProcess;
  /** nginx's error log so far (its connect failures, denials and start-up errors). */
  errorLog(): string;
}

/**
 * Runs Debian's nginx in the foreground on the shipped site file, substituted for the nodes'
 * ports and a free pair of loopback ports (tried again with others if one was taken meanwhile).
 * `timeout` bounds its life even if the test runner dies; the test's teardown stops it first.
 */
export async function startNginx(t: After, nodes: [number, number], tls: { cert: string; key: string }): Promise<RunningNginx> {
  const site = readFileSync(SITE_FILE, 'utf8');
  for (let attempt = 1; ; attempt++) {
    const dir = tempDir(t, 'conveyor-nginx-');
    // nginx's worker runs as nobody when started by root: it must reach its temporary files.
    chmodSync(dir, 0o755);
    const ports: SitePorts = { https: await freePort(), http: await freePort(), nodes };
    const conf = join(dir, 'nginx.conf');
    writeFileSync(conf, mainConfig(dir, substituteSite(site, ports, tls)));
    const child = spawn('timeout', ['-k', '5', '600', NGINX, '-p', `${dir}/`, '-c', conf, '-e', `${dir}/error.log`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = once(child, 'exit');
    t.after(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    });
    const errorLog = (): string => (existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '');
    let gone = false;
    void exited.then(() => (gone = true));
    const up = await started(join(dir, 'nginx.pid'), () => gone);
    if (up) return { ports, dir, process: child, errorLog };
    const why = `${output}\n${errorLog()}`;
    if (attempt < 3 && /Address already in use/.test(why)) continue;
    throw new Error(`nginx did not start:\n${why}`);
  }
}

/**
 * True once nginx wrote its pid file, which it does after it bound and listens on every port (a
 * probe of the port could meet whoever took it meanwhile); false if it exited first.
 */
async function started(pidFile: string, gone: () => boolean): Promise<boolean> {
  for (let i = 0; !gone(); i++) {
    if (existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '') return !gone();
    if (i > 400) throw new Error('nginx wrote no pid file within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return false;
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTPS request through nginx, trusting the test's certificate, from a chosen loopback address. */
export function httpsRequest(port: number, path: string, options: { ca: Buffer; localAddress?: string; method?: string; headers?: Record<string, string>; body?: string }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: options.method ?? 'GET', ca: options.ca, localAddress: options.localAddress ?? '127.0.0.1', headers: options.headers, agent: false },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** An https.Agent that trusts the test's certificate, for the pusher SDK. */
export function trustingAgent(ca: Buffer): Agent {
  return new Agent({ ca, keepAlive: false });
}

/** A native client over wss:// through nginx: text frames recorded, the next match awaited. */
export class WssClient {
  readonly frames: string[] = [];
  closeCode: number | undefined;
  readonly closed: Promise<number>;
  private cursor = 0;
  private waiter: (() => void) | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.frames.push(data.toString());
      this.waiter?.();
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code) => {
        this.closeCode = code;
        this.waiter?.();
        resolve(code);
      }),
    );
    ws.on('error', () => {});
  }

  /**
   * Opens wss://127.0.0.1:port{path} from `localAddress`; resolves with the client once open
   * (status 101), or with the HTTP status of a refused handshake.
   */
  static attempt(port: number, options: { ca: Buffer; localAddress: string; path?: string; headers?: Record<string, string> }): Promise<{ status: number; client?: WssClient }> {
    const ws = new WebSocket(`wss://127.0.0.1:${port}${options.path ?? '/'}`, 'socketconveyor.com', { ca: options.ca, localAddress: options.localAddress, headers: options.headers ?? {} });
    const client = new WssClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve({ status: 101, client }));
      ws.once('unexpected-response', (_req, res) => {
        res.resume();
        ws.terminate();
        resolve({ status: res.statusCode ?? 0 });
      });
      ws.once('error', reject);
    });
  }

  /** Opens a connection that must be admitted, and waits for its connection-info. */
  static async connect(port: number, options: { ca: Buffer; localAddress: string; path?: string; headers?: Record<string, string> }): Promise<WssClient & { fd: number }> {
    const { status, client } = await WssClient.attempt(port, options);
    if (!client) throw new Error(`handshake refused with HTTP ${status}`);
    const info = JSON.parse(await client.next((f) => f.includes('"connection-info"'))) as { data: string };
    return Object.assign(client, { fd: (JSON.parse(info.data) as { fd: number }).fd });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The next frame after the last one returned that matches. */
  async next(match: (frame: string) => boolean = () => true, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.cursor < this.frames.length) {
        const frame = this.frames[this.cursor++]!;
        if (match(frame)) return frame;
      }
      if (this.closeCode !== undefined) throw new Error(`closed (${this.closeCode}) while waiting; received ${JSON.stringify(this.frames)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame within ${timeoutMs} ms; received ${JSON.stringify(this.frames)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  close(): void {
    this.ws.close();
  }
}

/** What the pusher-js child is told, through its environment. */
export interface PusherChildOptions {
  port: number;
  key: string;
  channel: string;
  event: string;
}

/**
 * Spawns a Node process that runs pusher-js against wss://127.0.0.1:port and reports on its
 * stdout, one JSON line each: `{"connected":socketId}`, `{"subscribed":channel}`,
 * `{"event":data}`. pusher-js's Node transport (faye-websocket) takes no TLS options, so the
 * child trusts the test's certificate the way any Node process can be told to:
 * NODE_EXTRA_CA_CERTS, read at its start. Verification stays on. The child exits by itself
 * after the event, or after 30 s without it.
 */
export function spawnPusherJs(t: After, options: PusherChildOptions, caFile: string): { lines: Record<string, unknown>[]; waitFor(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>; exited: Promise<number | null> } {
  const self = new URL(import.meta.url).href;
  const child = spawn(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(self)}); m.runPusherJsChild();`], {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile, NODE_TLS_REJECT_UNAUTHORIZED: '1', CONVEYOR_TEST_PUSHER_CHILD: JSON.stringify(options) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  let buffered = '';
  const waiters: (() => void)[] = [];
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ unparsed: line });
      }
      waiters.splice(0).forEach((w) => w());
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exitedOnce = once(child, 'exit') as Promise<[number | null]>;
  const exited = exitedOnce.then(([code]) => {
    waiters.splice(0).forEach((w) => w());
    return code;
  });
  let done = false;
  void exited.then(() => (done = true));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const waitFor = async (predicate: (line: Record<string, unknown>) => boolean, timeoutMs = 10_000): Promise<Record<string, unknown>> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = lines.find(predicate);
      if (found) return found;
      if (done || Date.now() >= deadline) throw new Error(`pusher-js child: no such line; it printed ${JSON.stringify(lines)}; stderr: ${stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  };
  return { lines, waitFor, exited };
}

// pusher-js is CommonJS: under Node's ESM its default import is the class itself.
type PusherClass = typeof pusherJs.default;
const Pusher = pusherJs as unknown as PusherClass;

/** The child's side of spawnPusherJs; does nothing unless the environment says it is the child. */
export function runPusherJsChild(): void {
  const raw = process.env['CONVEYOR_TEST_PUSHER_CHILD'];
  if (!raw) return;
  const options = JSON.parse(raw) as PusherChildOptions;
  const say = (line: unknown): void => void process.stdout.write(`${JSON.stringify(line)}\n`);
  const giveUp = setTimeout(() => {
    say({ timeout: true, state: client.connection.state });
    process.exit(1);
  }, 30_000);
  const client = new Pusher(options.key, {
    wsHost: '127.0.0.1',
    wssPort: options.port,
    forceTLS: true,
    enabledTransports: ['ws'],
    cluster: 'test',
    disableStats: true,
  });
  client.connection.bind('state_change', (states: { current: string }) => say({ state: states.current }));
  client.connection.bind('error', (error: unknown) => say({ error: JSON.stringify(error) }));
  client.connection.bind('connected', () => say({ connected: client.connection.socket_id }));
  const channel = client.subscribe(options.channel);
  channel.bind('pusher:subscription_succeeded', () => say({ subscribed: options.channel }));
  channel.bind(options.event, (data: unknown) => {
    say({ event: data });
    clearTimeout(giveUp);
    client.disconnect();
    setTimeout(() => process.exit(0), 100);
  });
}
