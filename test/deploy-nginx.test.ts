import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import PusherServer from 'pusher';
import { APP, APP_FLAG } from './helpers/pusher.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { WssClient, httpsRequest, makeCertificate, spawnPusherJs, startNginx, tempDir, trustingAgent, type RunningNginx } from './helpers/nginx.js';

/**
 * docs/deploy/nginx.conf, as shipped with only its placeholders replaced, run by Debian's nginx
 * in front of two real nodes started as the deployment guide says (--trust-proxy 127.0.0.1),
 * with a certificate made by openssl for this run. Clients reach nginx from distinct loopback
 * addresses (127.0.0.2, 127.0.0.3: all of 127/8 is loopback on Linux), so that the address a
 * node counts can be told from nginx's own, 127.0.0.1.
 */

interface Deployment {
  nginx: RunningNginx;
  nodes: [RunningServer, RunningServer];
  ca: Buffer;
  cert: string;
}

async function deploy(t: TestContext, nodeFlags: [string[], string[]] = [[], []]): Promise<Deployment> {
  const dir = tempDir(t, 'conveyor-deploy-tls-');
  const { cert, key, ca } = makeCertificate(dir);
  const common = ['--trust-proxy', '127.0.0.1', '--max-connections-per-ip', '2', '--pusher-app', APP_FLAG];
  const nodes = (await Promise.all(nodeFlags.map((flags) => startServer([...common, ...flags], t)))) as [RunningServer, RunningServer];
  const nginx = await startNginx(t, [nodes[0].port, nodes[1].port], { cert, key });
  return { nginx, nodes, ca, cert };
}

/** The addresses a node saw its WebSockets open from. */
function openedFrom(node: RunningServer): unknown[] {
  return node.logs.filter((l) => l['msg'] === 'connection open').map((l) => l['remoteAddress']);
}

/** The same, once the node has logged `count` of them (its log lines arrive after the frames). */
async function openedFromAfter(node: RunningServer, count: number): Promise<unknown[]> {
  for (let i = 0; openedFrom(node).length < count; i++) {
    assert.ok(i < 500, `the node logged ${openedFrom(node).length} of ${count} connections`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return openedFrom(node);
}

test('through nginx over TLS: a native client gets connection-info and its echo on any path, and POST /conveyor/message reaches it', async (t) => {
  const { nginx, nodes, ca } = await deploy(t);
  const client = await WssClient.connect(nginx.ports.https, { ca, localAddress: '127.0.0.2', path: '/rooms/lobby' });
  t.after(() => client.close());
  client.send({ action: 'channel-connect', channel: 'lobby' });
  client.send({ action: 'base-action', data: 'through nginx' });
  assert.deepEqual(JSON.parse(await client.next((f) => f.includes('base-action'))), { action: 'base-action', data: 'through nginx', fd: client.fd });

  const sent = await httpsRequest(nginx.ports.https, '/conveyor/message', {
    ca,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ channel: 'lobby', message: 'from the backend' }),
  });
  assert.equal(sent.status, 200, sent.body);
  const pushed = JSON.parse(await client.next((f) => f.includes('from the backend'))) as { action: string; data: string };
  assert.equal(pushed.action, 'broadcast-action');
  assert.equal(pushed.data, 'from the backend');

  // The node saw the client's own address, not nginx's; the backup node saw nothing.
  assert.deepEqual(await openedFromAfter(nodes[0], 1), ['127.0.0.2']);
  assert.deepEqual(openedFrom(nodes[1]), []);
});

test('through nginx over TLS: pusher-js (wss, certificate verified) receives an event the pusher SDK triggers through /apps/', async (t) => {
  const { nginx, nodes, ca, cert } = await deploy(t);
  const channel = `orders-${process.pid}`;
  const child = spawnPusherJs(t, { port: nginx.ports.https, key: APP.key, channel, event: 'shipped' }, cert);
  const connected = await child.waitFor((l) => typeof l['connected'] === 'string');
  assert.match(connected['connected'] as string, /^\d+\.\d+$/);
  await child.waitFor((l) => l['subscribed'] === channel);

  const sdk = new PusherServer({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1', port: String(nginx.ports.https), useTLS: true, agent: trustingAgent(ca) });
  const response = await sdk.trigger(channel, 'shipped', { order: 7 });
  assert.equal(response.status, 200);
  const received = await child.waitFor((l) => 'event' in l);
  assert.deepEqual(received['event'], { order: 7 });
  assert.equal(await child.exited, 0);

  const opened = await nodes[0].waitForLog((l) => l['msg'] === 'connection open' && l['protocol'] === 'pusher');
  assert.equal(opened['remoteAddress'], '127.0.0.1');
  assert.deepEqual(openedFrom(nodes[1]), []);
});

test('--max-connections-per-ip counts the real client behind nginx: 127.0.0.2 is refused at its third socket, 127.0.0.3 is not, and a forged X-Forwarded-For changes nothing', async (t) => {
  const { nginx, nodes, ca } = await deploy(t);
  const port = nginx.ports.https;
  const open: WssClient[] = [];
  t.after(() => open.forEach((c) => c.close()));
  const attempt = async (localAddress: string, headers: Record<string, string> = {}): Promise<number> => {
    const { status, client } = await WssClient.attempt(port, { ca, localAddress, headers });
    if (client) {
      open.push(client);
      await client.next((f) => f.includes('"connection-info"'));
    }
    return status;
  };

  assert.equal(await attempt('127.0.0.2'), 101);
  assert.equal(await attempt('127.0.0.2'), 101);
  assert.equal(await attempt('127.0.0.2'), 429);
  // Claiming to be someone else does not get 127.0.0.2 past its limit: nginx appends the peer's
  // address, and the node takes the right-most one that is not a trusted proxy.
  assert.equal(await attempt('127.0.0.2', { 'x-forwarded-for': '198.51.100.7' }), 429);
  assert.equal(await attempt('127.0.0.2', { 'x-forwarded-for': '198.51.100.7, 127.0.0.1' }), 429);
  assert.equal(await attempt('127.0.0.2', { 'x-real-ip': '198.51.100.8' }), 429);

  // 127.0.0.3 is counted on its own, even when it claims to be 127.0.0.2.
  assert.equal(await attempt('127.0.0.3'), 101);
  assert.equal(await attempt('127.0.0.3', { 'x-forwarded-for': '127.0.0.2' }), 101);
  assert.equal(await attempt('127.0.0.3'), 429);

  const refused = await nodes[0].waitForLog((l) => l['msg'] === 'handshake refused' && l['status'] === 429);
  assert.equal(refused['remoteAddress'], '127.0.0.2');
  assert.deepEqual((await openedFromAfter(nodes[0], 4)).sort(), ['127.0.0.2', '127.0.0.2', '127.0.0.3', '127.0.0.3']);
  assert.deepEqual(openedFrom(nodes[1]), [], 'the backup node takes nothing while the first one serves');
});

test('through nginx: /health and /metrics answer only on this host, /ready answers load balancers anywhere, port 80 redirects to https', async (t) => {
  const { nginx, ca } = await deploy(t);
  const port = nginx.ports.https;
  const from = (localAddress: string, path: string) => httpsRequest(port, path, { ca, localAddress });

  for (const path of ['/health', '/metrics', '/health?token=x', '//health', '/%68ealth', '/./metrics']) {
    assert.equal((await from('127.0.0.2', path)).status, 403, `${path} from another address`);
  }
  const ready = await from('127.0.0.2', '/ready');
  assert.equal(ready.status, 200);
  assert.deepEqual(JSON.parse(ready.body), { status: 'ready' });

  const health = await from('127.0.0.1', '/health');
  assert.equal(health.status, 200, health.body);
  assert.equal((JSON.parse(health.body) as { status: string }).status, 'ok');
  const metrics = await from('127.0.0.1', '/metrics');
  assert.equal(metrics.status, 200);
  assert.match(metrics.body, /^# HELP /m);

  const plain = await fetch(`http://127.0.0.1:${nginx.ports.http}/ready?x=1`, { redirect: 'manual' });
  assert.equal(plain.status, 301);
  assert.equal(plain.headers.get('location'), 'https://127.0.0.1/ready?x=1');
});

test('through nginx: when the first node drains (SIGTERM, --drain-delay), /ready turns 503, its clients get 1001 and reconnect to the backup node', async (t) => {
  const { nginx, nodes, ca } = await deploy(t, [['--drain-delay', '1'], []]);
  const port = nginx.ports.https;
  const client = await WssClient.connect(port, { ca, localAddress: '127.0.0.2' });
  t.after(() => client.close());
  assert.deepEqual(await openedFromAfter(nodes[0], 1), ['127.0.0.2']);

  const stopped = nodes[0].stop('SIGTERM');
  for (let i = 0; ; i++) {
    const ready = await httpsRequest(port, '/ready', { ca, localAddress: '127.0.0.2' });
    if (ready.status === 503) {
      assert.deepEqual(JSON.parse(ready.body), { status: 'draining' });
      break;
    }
    assert.ok(i < 200, '/ready never answered 503 through nginx');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(await client.closed, 1001);

  const again = await WssClient.connect(port, { ca, localAddress: '127.0.0.2' });
  t.after(() => again.close());
  again.send({ action: 'base-action', data: 'on the backup' });
  assert.deepEqual(JSON.parse(await again.next((f) => f.includes('on the backup'))), { action: 'base-action', data: 'on the backup', fd: again.fd });
  assert.deepEqual(await openedFromAfter(nodes[1], 1), ['127.0.0.2']);
  const ready = await httpsRequest(port, '/ready', { ca, localAddress: '127.0.0.2' });
  assert.equal(ready.status, 200);
  assert.equal(await stopped, 0);
});

test('through nginx: a request the first node leaves unanswered (more headers than uWS takes) does not take that node out for other clients', async (t) => {
  const { nginx, nodes, ca } = await deploy(t);
  const port = nginx.ports.https;
  const headers: Record<string, string> = {};
  for (let i = 0; i < 60; i++) headers[`x-filler-${i}`] = 'x';
  let finished = false;
  const dropped = httpsRequest(port, '/ready', { ca, localAddress: '127.0.0.3', headers }).finally(() => (finished = true));
  // The node closes it unanswered after about ten seconds, and nginx tries the backup with it.
  for (let i = 0; !finished && !/upstream prematurely closed/.test(nginx.errorLog()); i++) {
    assert.ok(i < 300, 'the first node neither answered nor dropped the request within 15 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const client = await WssClient.connect(port, { ca, localAddress: '127.0.0.2' });
  t.after(() => client.close());
  assert.deepEqual(await openedFromAfter(nodes[0], 1), ['127.0.0.2']);
  assert.deepEqual(openedFrom(nodes[1]), []);
  assert.ok((await dropped).status >= 400);
});
