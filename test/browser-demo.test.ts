import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chromium, type Page } from 'playwright-core';
import { startServer } from './helpers/server.js';

const SCREENSHOT = new URL('../../test/artifacts/demo.png', import.meta.url);

async function join(page: Page, url: string, name: string): Promise<void> {
  await page.goto(url);
  await page.locator('#state', { hasText: 'open' }).waitFor();
  await page.fill('#name', name);
  await page.fill('#channel', 'demo-room');
  await page.click('#join');
  await page.locator('#messages li', { hasText: 'Joined demo-room' }).waitFor();
}

test('the demo page in two browsers: both join a channel, a message from one shows in the other, presence lists both', async (t) => {
  const server = await startServer(['--demo', '--presence'], t);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  t.after(() => browser.close());
  const ada = await browser.newPage({ viewport: { width: 820, height: 620 } });
  const bob = await browser.newPage({ viewport: { width: 820, height: 620 } });
  const errors: string[] = [];
  for (const page of [ada, bob]) page.on('pageerror', (error) => errors.push(error.message));

  await join(ada, server.httpUrl, 'Ada');
  await join(bob, server.httpUrl, 'Bob');
  await ada.locator('#count', { hasText: '2' }).waitFor();
  await bob.locator('#count', { hasText: '2' }).waitFor();
  assert.deepEqual((await ada.locator('#members li').allTextContents()).sort(), ['Ada (you)', 'Bob']);

  await bob.fill('#text', 'Hello from Bob');
  await bob.click('#send');
  await ada.locator('#messages li', { hasText: 'Bob: Hello from Bob' }).waitFor();
  await ada.fill('#text', 'Hi Bob!');
  await ada.click('#send');
  await bob.locator('#messages li', { hasText: 'Ada: Hi Bob!' }).waitFor();
  await ada.locator('#messages li', { hasText: 'me: Hi Bob!' }).waitFor();

  await ada.screenshot({ path: SCREENSHOT.pathname });
  assert.deepEqual(errors, []);
});
