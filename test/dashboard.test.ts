import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { FrameClient } from './helpers/frame-client.js';
import { APP_FLAG, RawPusher } from './helpers/pusher.js';
import { screenshotPath } from './helpers/screenshots.js';
import { startServer } from './helpers/server.js';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCREENSHOT = screenshotPath('dashboard.png');
const TOKEN = 'dash-token-51c2';

let browser: Browser;
before(async () => {
  if (!existsSync(CHROMIUM)) execFileSync('bash', ['scripts/setup-test.sh'], { cwd: ROOT, stdio: 'inherit' });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});
after(() => browser?.close());

test('--dashboard: the page is guarded like /metrics, and only served with the option', async (t) => {
  const plain = await startServer([], t);
  assert.equal((await fetch(`${plain.httpUrl}/conveyor/dashboard`)).status, 404);
  const server = await startServer(['--dashboard', '--token', TOKEN, '--metrics-token', 'scraper'], t);
  assert.equal((await fetch(`${server.httpUrl}/conveyor/dashboard`)).status, 401);
  assert.equal((await fetch(`${server.httpUrl}/conveyor/dashboard/stats`)).status, 401);
  assert.equal((await fetch(`${server.httpUrl}/conveyor/dashboard?token=scraper`)).status, 200);
  const stats = (await (await fetch(`${server.httpUrl}/conveyor/dashboard/stats?token=${TOKEN}`)).json()) as Record<string, unknown>;
  for (const key of ['connections', 'channels', 'workers', 'largestChannels', 'pusherApps', 'at']) assert.ok(key in stats, key);
  const library = await fetch(`${server.httpUrl}/conveyor/dashboard/uplot.js`);
  assert.equal(library.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.match(await library.text(), /uPlot/);
});

test('the dashboard in headless Chromium shows moving charts, per-worker rates, the largest channels and the Pusher apps under load', async (t) => {
  const server = await startServer(['--dashboard', '--token', TOKEN, '--workers', '2', '--pusher-app', APP_FLAG], t);
  const clients: FrameClient[] = [];
  t.after(() => clients.forEach((c) => c.close()));
  for (let i = 0; i < 6; i++) {
    const client = await FrameClient.connect(`${server.url}/?token=${TOKEN}`);
    client.send({ action: 'channel-connect', channel: i < 4 ? 'busy-room' : 'quiet-room', auth: TOKEN });
    await client.barrier();
    clients.push(client);
  }
  const pushers = await Promise.all([0, 1, 2].map(() => RawPusher.connect(server)));
  t.after(() => pushers.forEach((p) => p.close()));
  for (const p of pushers) p.send({ event: 'pusher:subscribe', data: { channel: 'prices' } });
  let n = 0;
  const load = setInterval(() => {
    for (const client of clients.slice(0, 4)) client.send({ action: 'broadcast-action', data: `tick ${n++}` });
  }, 20);
  t.after(() => clearInterval(load));

  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${server.httpUrl}/conveyor/dashboard?token=${TOKEN}`);
  await page.locator('#state', { hasText: 'live' }).waitFor();
  await page.locator('#t-connections', { hasText: '9' }).waitFor();
  // Rates need two samples a second apart: wait until the received rate is above zero.
  await page.waitForFunction('Number(document.getElementById("t-in")?.textContent) > 0', undefined, { timeout: 10_000 });
  await page.waitForFunction('document.querySelectorAll("#workers tbody tr").length === 2');
  await page.locator('#channels tbody tr', { hasText: 'busy-room' }).waitFor();
  assert.deepEqual(await page.locator('#channels tbody tr').first().locator('td').allTextContents(), ['busy-room', 'native', '4']);
  await page.locator('#apps tbody tr', { hasText: 'app-1' }).waitFor();
  assert.equal(await page.locator('canvas').count(), 4, 'four uPlot charts');
  // Two native channels and one Pusher channel.
  await page.locator('#t-channels', { hasText: '3' }).waitFor();
  // Each chart fills its card, whatever the window's width.
  for (const id of ['c-connections', 'c-trouble']) {
    const [card, plot] = await Promise.all([page.locator(`#${id}`).boundingBox(), page.locator(`#${id} canvas`).boundingBox()]);
    assert.ok(card && plot && Math.abs(card.width - plot.width) < 24, `${id}: chart ${plot?.width} px wide in a card of ${card?.width} px`);
  }
  assert.match((await page.locator('#meta').textContent()) ?? '', /^2 workers · 1 task thread · updated /);
  // A few more seconds of history make the charts show motion in the screenshot.
  await page.waitForFunction('performance.now() > 4000', undefined, { timeout: 10_000 });
  await page.screenshot({ path: SCREENSHOT });
  assert.deepEqual(errors, []);
});
