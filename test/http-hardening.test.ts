import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { FrameClient } from './helpers/frame-client.js';
import { startServer } from './helpers/server.js';

/** A raw HTTP/1.1 connection: a test writes requests byte for byte and reads exactly what comes back. */
class RawHttp {
  private received = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  readonly closed: Promise<void>;
  isClosed = false;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.waiter?.();
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.isClosed = true;
        this.waiter?.();
        resolve();
      }),
    );
  }

  static async open(port: number): Promise<RawHttp> {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setNoDelay(true);
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new RawHttp(socket);
  }

  write(text: string): void {
    this.socket.write(text);
  }

  get text(): string {
    return this.received.toString('utf8');
  }

  /** Waits until `done(text)` holds or the connection closed (bounded). */
  async until(done: (text: string) => boolean, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.text) && !this.isClosed) {
      assert.ok(Date.now() < deadline, `no answer within ${timeoutMs} ms; got ${JSON.stringify(this.text)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.text;
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * The responses in `text`, each as status line, headers and body (by its content-length);
 * the first `bodiless` are answers to HEAD, whose content-length announces no body.
 */
function responses(text: string, bodiless = 0): { status: string; headers: Record<string, string>; body: string }[] {
  const out: { status: string; headers: Record<string, string>; body: string }[] = [];
  let rest = text;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const [status, ...lines] = rest.slice(0, end).split('\r\n');
    const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    const length = out.length < bodiless ? 0 : Number(headers['content-length'] ?? 0);
    out.push({ status: status!, headers, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
  return out;
}

const post = (path: string, body: string): string => `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

test('HEAD is answered wherever GET is: the same status and content-length, no body, and the connection stays usable', async (t) => {
  const server = await startServer([], t);
  const http = await RawHttp.open(server.port);
  t.after(() => http.close());
  http.write('HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n');
  const head = responses(await http.until((text) => text.includes('\r\n\r\n')))[0]!;
  assert.equal(head.status, 'HTTP/1.1 200 OK');
  assert.equal(head.body, '');
  http.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
  const both = responses(await http.until((text) => responses(text, 1).length === 2 && responses(text, 1)[1]!.body.endsWith('}')), 1);
  const get = both[1]!;
  assert.equal(get.status, 'HTTP/1.1 200 OK');
  assert.equal((JSON.parse(get.body) as { status: string }).status, 'ok');
  // /health's body varies between two requests only in its numbers' digits; the length a HEAD states is a real one.
  assert.ok(Math.abs(Number(head.headers['content-length']) - Buffer.byteLength(get.body)) < 16, `HEAD said ${head.headers['content-length']}, GET sent ${Buffer.byteLength(get.body)}`);
  const missing = await fetch(`${server.httpUrl}/nowhere`, { method: 'HEAD' });
  assert.equal(missing.status, 404);
});

test('two requests pipelined in one write close the connection before either is carried out', async (t) => {
  const server = await startServer([], t);
  const member = await FrameClient.connect(server.url);
  t.after(() => member.close());
  member.send({ action: 'channel-connect', channel: 'pipelined' });
  await member.barrier();
  const http = await RawHttp.open(server.port);
  t.after(() => http.close());
  http.write(post('/conveyor/message', JSON.stringify({ channel: 'pipelined', message: 'first' })) + post('/conveyor/message', JSON.stringify({ channel: 'pipelined', message: 'second' })));
  await http.closed;
  assert.equal(http.text, '', 'no answer: nothing was carried out');
  // Nothing reached the member: a message sent now is the first it gets.
  assert.equal((await fetch(`${server.httpUrl}/conveyor/message`, { method: 'POST', body: JSON.stringify({ channel: 'pipelined', message: 'after' }) })).status, 200);
  assert.equal(await member.next((f) => f.includes('"broadcast-action"')), JSON.stringify({ action: 'broadcast-action', data: 'after' }));
});

test('requests pipelined in separate writes: each one carried out is answered, in order; the ones the server read together close the connection unexecuted', async (t) => {
  const server = await startServer([], t);
  const member = await FrameClient.connect(server.url);
  t.after(() => member.close());
  member.send({ action: 'channel-connect', channel: 'in-order' });
  await member.barrier();
  const http = await RawHttp.open(server.port);
  t.after(() => http.close());
  const messages = ['one', 'two', 'three'];
  for (const message of messages) {
    http.write(post('/conveyor/message', JSON.stringify({ channel: 'in-order', message })));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const answers = responses(await http.until((text) => responses(text).length === 3));
  assert.ok(answers.length >= 1, 'the first request, read alone, is answered');
  assert.deepEqual(answers.map((a) => [a.status, a.body]), answers.map(() => ['HTTP/1.1 200 OK', '{"success":"Message sent successfully!"}']));
  if (answers.length < 3) {
    await http.closed;
    t.diagnostic(`${answers.length} answered, then the rest arrived together and closed the connection`);
  }
  // The member got exactly the answered messages, in order, and nothing of the others.
  const sent = await fetch(`${server.httpUrl}/conveyor/message`, { method: 'POST', body: JSON.stringify({ channel: 'in-order', message: 'end' }) });
  assert.equal(sent.status, 200);
  await member.next((f) => f.includes('"end"'));
  const heard = member.frames.filter((f) => f.includes('"broadcast-action"')).map((f) => (JSON.parse(f) as { data: string }).data);
  assert.deepEqual(heard, [...messages.slice(0, answers.length), 'end']);
});

test('with --token, /health and /metrics need the server token or --metrics-token, which opens nothing else', async (t) => {
  const server = await startServer(['--token', 'server-secret', '--metrics-token', 'scraper-secret'], t);
  for (const path of ['/health', '/metrics']) {
    const denied = await fetch(`${server.httpUrl}${path}`);
    assert.equal(denied.status, 401, path);
    assert.deepEqual(await denied.json(), { error: 'Unauthorized!' });
    assert.equal((await fetch(`${server.httpUrl}${path}?token=wrong`)).status, 401, path);
    assert.equal((await fetch(`${server.httpUrl}${path}?token=server-secret`)).status, 200, path);
    assert.equal((await fetch(`${server.httpUrl}${path}?token=scraper-secret`)).status, 200, path);
    assert.equal((await fetch(`${server.httpUrl}${path}`, { headers: { authorization: 'Bearer scraper-secret' } })).status, 200, path);
  }
  const message = await fetch(`${server.httpUrl}/conveyor/message?token=scraper-secret`, { method: 'POST', body: JSON.stringify({ channel: 'c', message: 'm' }) });
  assert.equal(message.status, 401);
  assert.equal((await fetch(`${server.httpUrl}/conveyor/auth?token=scraper-secret`, { method: 'POST', body: '{}' })).status, 401);
  const output = server.rawOutput.join('\n');
  assert.ok(!output.includes('scraper-secret') && !output.includes('server-secret'), 'no token in the logs');
  const { config } = (await server.waitForLog((l) => l['msg'] === 'starting')) as { config: Record<string, unknown> };
  assert.deepEqual([config['token'], config['metricsToken']], ['[redacted]', '[redacted]'], 'the secrets that are set are said to be');
});

test(
  'a request with more than 48 headers is answered 431',
  { todo: 'uWS stops parsing past its 50 header slots and waits for the rest of a request that never completes: no handler runs, the client gets nothing and is closed after about 10 s. A proxy in front (docs) must refuse such requests' },
  async (t) => {
    const server = await startServer([], t);
    const http = await RawHttp.open(server.port);
    t.after(() => http.close());
    const headers = Array.from({ length: 60 }, (_, i) => `X-Filler-${i}: ${i}\r\n`).join('');
    http.write(`GET /health HTTP/1.1\r\nHost: x\r\n${headers}\r\n`);
    const answer = responses(await http.until((text) => text.includes('\r\n\r\n'), 2000))[0];
    assert.equal(answer?.status, 'HTTP/1.1 431 Request Header Fields Too Large');
  },
);
