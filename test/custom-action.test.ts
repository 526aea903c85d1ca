import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FrameClient } from './helpers/frame-client.js';
import { startNode } from './helpers/server.js';

// The README's example, compiled: custom actions must exist in every worker it forks.
const EXAMPLE = fileURLToPath(new URL('../docs/examples/custom-action.js', import.meta.url));

test('the README example serves its custom action from every worker, beside the built-in ones', async (t) => {
  const server = await startNode([EXAMPLE], t, { PORT: '0' });
  const clients: FrameClient[] = [];
  t.after(() => clients.forEach((c) => c.close()));
  for (let i = 0; i < 6; i++) {
    const client = await FrameClient.connect(server.url);
    clients.push(client);
    client.send({ action: 'channel-connect', channel: 'table' });
    await client.barrier();
  }
  const health = (await (await fetch(`${server.httpUrl}/health`)).json()) as { workers: { connections: number }[] };
  assert.equal(health.workers.length, 2);

  for (const roller of clients) {
    roller.send({ action: 'roll-dice', sides: 6 });
    for (const client of clients) {
      const frame = JSON.parse(await client.next((f) => f.includes('"roll-dice"'))) as { action: string; data: { sides: number; roll: number }; fd: number };
      assert.equal(frame.action, 'roll-dice');
      assert.equal(frame.fd, roller.fd);
      const { data } = frame;
      assert.equal(data.sides, 6);
      assert.ok(Number.isInteger(data.roll) && data.roll >= 1 && data.roll <= 6, `roll ${data.roll}`);
    }
  }

  const [first] = clients;
  first!.send({ action: 'roll-dice', sides: 1 });
  assert.deepEqual(JSON.parse(await first!.next((f) => f.includes('"error"'))), {
    action: 'error',
    data: 'Field "sides" must be an integer of at least 2.',
    fd: first!.fd,
  });
});
