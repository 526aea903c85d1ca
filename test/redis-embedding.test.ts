import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Plain, embedServer } from './helpers/embedded.js';
import { startRedis } from './helpers/redis.js';

test('groups span nodes over Redis: a publish and a route reach the members on the other node; created and destroyed once for the whole server', async (t) => {
  const redis = await startRedis(t);
  const [one, two] = await Promise.all([embedServer(t, { redis: redis.url, workers: 1 }), embedServer(t, { redis: redis.url, workers: 1 })]);
  const a = await Plain.open(`${one.url}/rooms`);
  const b = await Plain.open(`${two.url}/rooms`);
  t.after(() => [a, b].forEach((c) => c.ws.close()));
  for (const client of [a, b]) {
    await client.until((m) => m.startsWith('hello'));
    client.ws.send('join lounge');
    await client.until((m) => m === 'done join lounge');
  }
  a.ws.send('publish lounge across nodes');
  await b.until((m) => m === 'across nodes');
  const announced = await fetch(`${two.httpUrl}/announce`, { method: 'POST', body: JSON.stringify({ group: 'lounge', text: 'from the route on node two' }) });
  assert.equal(announced.status, 200);
  await a.until((m) => m === 'from the route on node two');
  a.ws.close();
  b.ws.close();
  const destroyed = (l: Record<string, unknown>): boolean => l['msg'] === 'group destroyed' && l['group'] === 'lounge';
  await Promise.race([one.waitForLog(destroyed), two.waitForLog(destroyed)]);
  const count = (msg: string): number => [one, two].reduce((n, server) => n + server.logs.filter((l) => l['msg'] === msg && l['group'] === 'lounge').length, 0);
  assert.equal(count('group created'), 1);
  assert.equal(count('group destroyed'), 1);
});

