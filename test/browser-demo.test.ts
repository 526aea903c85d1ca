import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { screenshotPath } from './helpers/screenshots.js';
import { startServer } from './helpers/server.js';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCREENSHOT = screenshotPath('demo.png');
const PUSHER_SCREENSHOT = screenshotPath('pusher-demo.png');

let browser: Browser;

before(async () => {
  if (!existsSync(CHROMIUM)) execFileSync('bash', ['scripts/setup-test.sh'], { cwd: ROOT, stdio: 'inherit' });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

after(() => browser?.close());

/** The fd each page's latest connection-info gave it, as the server sent it. */
const serverFds = new WeakMap<Page, number>();

async function openDemo(url: string, errors: string[]): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 820, height: 660 } });
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('websocket', (ws) =>
    ws.on('framereceived', ({ payload }) => {
      const text = String(payload);
      if (text.includes('"connection-info"')) serverFds.set(page, (JSON.parse((JSON.parse(text) as { data: string }).data) as { fd: number }).fd);
    }),
  );
  await page.goto(url);
  await page.locator('#state', { hasText: 'connected' }).waitFor();
  return page;
}

async function join(page: Page, name: string, channel: string): Promise<void> {
  await page.fill('#name', name);
  await page.fill('#channel', channel);
  await page.click('#join');
  await page.locator('#messages li', { hasText: `Joined ${channel}` }).waitFor();
}

async function say(from: Page, to: Page, name: string, text: string): Promise<void> {
  await from.fill('#text', text);
  await from.click('#send');
  await to.locator('#messages li', { hasText: `${name}: ${text}` }).waitFor();
}

test('GET /, the client bundle and its source map are served with --demo only', async (t) => {
  const plain = await startServer([], t);
  for (const path of ['/', '/client/conveyor-client.js']) assert.equal((await fetch(plain.httpUrl + path)).status, 404);
  const demo = await startServer(['--demo'], t);
  const page = await fetch(demo.httpUrl + '/');
  assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.match(await page.text(), /import Conveyor from '\/client\/conveyor-client\.js'/);
  const bundle = await fetch(demo.httpUrl + '/client/conveyor-client.js');
  assert.equal(bundle.headers.get('content-type'), 'text/javascript; charset=utf-8');
  const code = await bundle.text();
  assert.match(code, /export\{.*as default/);
  assert.doesNotMatch(code, /\brequire\(|from"node:|from"ws"/);
  const map = (await (await fetch(demo.httpUrl + '/client/conveyor-client.js.map')).json()) as { sources: string[] };
  assert.ok(map.sources.every((source) => source.includes('src/client/')), map.sources.join(', '));
});

test('the demo page in two browser pages: both join a channel, a message from one shows in the other, presence lists both; after a server restart both reconnect, re-join and chat on', async (t) => {
  const server = await startServer(['--demo', '--presence'], t);
  const errors: string[] = [];
  const ada = await openDemo(server.httpUrl, errors);
  const bob = await openDemo(server.httpUrl, errors);

  await join(ada, 'Ada', 'demo-room');
  await join(bob, 'Bob', 'demo-room');
  for (const page of [ada, bob]) await page.locator('#count', { hasText: '2' }).waitFor();
  assert.deepEqual(await ada.locator('#members li').allTextContents(), ['Ada (you)', 'Bob']);
  assert.deepEqual(await bob.locator('#members li').allTextContents(), ['Ada', 'Bob (you)']);
  await ada.locator('#messages li', { hasText: 'Bob joined' }).waitFor();

  await say(bob, ada, 'Bob', 'Hello from Bob');
  await say(ada, bob, 'Ada', 'Hi Bob!');
  await ada.locator('#messages li.me', { hasText: 'me: Hi Bob!' }).waitFor();

  for (const page of [ada, bob]) assert.equal(await page.locator('#fd').textContent(), String(serverFds.get(page)), 'the status line shows the fd');
  await server.stop('SIGKILL');
  for (const page of [ada, bob]) await page.locator('#messages li', { hasText: /^Connection lost; reconnecting, attempt \d+ in \d+ ms$/ }).waitFor();
  const restarted = await startServer(['--demo', '--presence', '--port', String(server.port)], t);
  assert.equal(restarted.port, server.port);
  for (const page of [ada, bob]) {
    const line = page.locator('#messages li', { hasText: /^Reconnected as fd \d+; re-joined demo-room$/ });
    await line.waitFor();
    // The new connection's fd, not the one before the restart, in the line and the status line.
    assert.equal(/fd (\d+)/.exec((await line.textContent()) ?? '')?.[1], String(serverFds.get(page)));
    assert.equal(await page.locator('#fd').textContent(), String(serverFds.get(page)));
    await page.locator('#count', { hasText: '2' }).waitFor();
    await page.locator('#reconnects', { hasText: '1' }).waitFor();
  }
  assert.deepEqual(await ada.locator('#members li').allTextContents(), ['Ada (you)', 'Bob']);
  await say(bob, ada, 'Bob', 'Still here after the restart');

  await ada.screenshot({ path: SCREENSHOT });
  assert.deepEqual(errors, []);
});

test('in a browser, a handshake the server refuses (a wrong or spent token) is not retried forever', async (t) => {
  const server = await startServer(['--demo', '--token', 'right-token'], t);
  const page = await browser.newPage();
  await page.goto(`${server.httpUrl}/health`);
  const outcome = await page.evaluate(async (port) => {
    const bundle = '/client/conveyor-client.js';
    const { default: Conveyor } = (await import(bundle)) as { default: new (options: object) => { on(event: string, listener: (arg: unknown) => void): void } };
    return new Promise<{ error: string; reconnects: number }>((resolve) => {
      let reconnects = 0;
      const client = new Conveyor({ port, token: 'spent-token', reconnect: true, reconnectDelay: 50 });
      client.on('reconnecting', () => reconnects++);
      client.on('error', (error) => {
        const message = (error as Error).message;
        if (message.includes('not reconnecting')) resolve({ error: message, reconnects });
      });
    });
  }, server.port);
  assert.deepEqual(outcome, {
    error: 'the server is up but refused the WebSocket handshake; not reconnecting (a spent temporary token? give refreshToken to fetch a new one)',
    reconnects: 0,
  });
});

test('the Pusher demo page (laravel-echo on pusher-js, bundled) in two browser pages: presence lists both, whispers reach the other page, the page is served with --demo only', async (t) => {
  const app = ['--pusher-app', 'demo:demo-key:demo-secret', '--pusher-client-events'];
  const plain = await startServer(app, t);
  assert.equal((await fetch(`${plain.httpUrl}/pusher`)).status, 404);
  const server = await startServer(['--demo', '--workers', '2', ...app], t);
  const errors: string[] = [];
  const open = async (): Promise<Page> => {
    const page = await browser.newPage({ viewport: { width: 820, height: 660 } });
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${server.httpUrl}/pusher`);
    await page.locator('#state', { hasText: 'connected' }).waitFor();
    return page;
  };
  const [ada, bob] = [await open(), await open()];
  for (const [page, name] of [[ada, 'Ada'], [bob, 'Bob']] as const) {
    await page.fill('#name', name);
    await page.fill('#room', 'demo-room');
    await page.click('#join');
    await page.locator('#messages li', { hasText: 'Joined demo-room' }).waitFor();
  }
  for (const page of [ada, bob]) await page.locator('#count', { hasText: '2' }).waitFor();
  assert.deepEqual(await ada.locator('#members li').allTextContents(), ['Ada (you)', 'Bob']);
  await ada.locator('#messages li', { hasText: 'Bob joined' }).waitFor();
  await bob.fill('#text', 'Hello over Pusher');
  await bob.click('#send');
  await ada.locator('#messages li', { hasText: 'Bob: Hello over Pusher' }).waitFor();
  await ada.fill('#text', 'Hi Bob!');
  await ada.click('#send');
  await bob.locator('#messages li', { hasText: 'Ada: Hi Bob!' }).waitFor();
  await ada.screenshot({ path: PUSHER_SCREENSHOT });
  await bob.close();
  await ada.locator('#messages li', { hasText: 'Bob left' }).waitFor();
  await ada.locator('#count', { hasText: '1' }).waitFor();
  assert.deepEqual(errors, []);
});

test('with --history, a page that joins later first shows the channel\'s last messages', async (t) => {
  const server = await startServer(['--demo', '--history', '50'], t);
  const errors: string[] = [];
  const ada = await openDemo(server.httpUrl, errors);
  const bob = await openDemo(server.httpUrl, errors);
  await join(ada, 'Ada', 'history-room');
  await join(bob, 'Bob', 'history-room');
  await say(ada, bob, 'Ada', 'first');
  await say(ada, bob, 'Ada', 'second');
  const carl = await openDemo(server.httpUrl, errors);
  await join(carl, 'Carl', 'history-room');
  const lines = await carl.locator('#messages li').allTextContents();
  const backlog = lines.indexOf('Last 2 messages of history-room:');
  assert.ok(backlog >= 0, JSON.stringify(lines));
  assert.deepEqual(lines.slice(backlog + 1, backlog + 3), ['Ada: first', 'Ada: second']);
  assert.deepEqual(errors, []);
});
