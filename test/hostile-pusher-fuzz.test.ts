import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Prng } from './helpers/prng.js';
import { APP, RawPusher, channelAuth } from './helpers/pusher.js';
import { assertSameProcesses, processIds } from './helpers/server-health.js';
import { startServer } from './helpers/server.js';

const SOCKETS = 12;
const FRAMES_PER_SOCKET = 200;

/** One random Pusher frame: malformed JSON, missing or mistyped data, huge names, signin and subscribe junk, client events anywhere. */
function randomFrame(rng: Prng, socketId: string): string {
  const channel = rng.pick(['public', 'private-fuzz', 'presence-fuzz', 'private-encrypted-fuzz', 'cache-fuzz', '#server-to-user-x', 'x'.repeat(rng.int(150, 400)), 'bad name', '', 'ü']);
  const junk = rng.pick<unknown>([null, 7, 'text', [], {}, { channel: 7 }, { channel: 'x'.repeat(10_000) }, '{"channel":', { nested: JSON.parse('[[[[[[[[[[1]]]]]]]]]]') }]);
  switch (rng.int(0, 11)) {
    case 0:
      return rng.bytes(rng.int(1, 200)).toString('latin1');
    case 1:
      return '{"event":"pusher:subscribe"';
    case 2:
      return JSON.stringify({ event: 'pusher:subscribe', data: junk });
    case 3:
      return JSON.stringify({ event: 'pusher:subscribe', data: { channel, auth: rng.chance(0.5) ? channelAuth(socketId, channel) : rng.pick(['', 'app-key:', ':', 'x'.repeat(300)]) } });
    case 4:
      return JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'presence-fuzz', auth: channelAuth(socketId, 'presence-fuzz', '{"user_id":null}'), channel_data: rng.pick(['{"user_id":null}', '[]', 'nope', '{"user_id":{"a":1}}']) } });
    case 5:
      return JSON.stringify({ event: 'pusher:unsubscribe', data: rng.chance(0.5) ? junk : { channel } });
    case 6:
      return JSON.stringify({ event: `client-${rng.pick(['x', 'y'.repeat(300)])}`, channel: rng.chance(0.5) ? channel : junk, data: junk });
    case 7:
      return JSON.stringify({ event: rng.pick([7, null, '', 'pusher:', 'pusher:nope', 'pusher_internal:member_added', 'x'.repeat(500)]), data: junk });
    case 8:
      return JSON.stringify(rng.pick<unknown>([[], 'string', 42, null, { data: {} }]));
    case 9:
      return `{"event":"pusher:ping","data":${'['.repeat(rng.int(30, 200))}${']'.repeat(rng.int(0, 200))}}`;
    case 10:
      return JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'public' } });
    default:
      return JSON.stringify({ event: 'pusher:ping', data: junk });
  }
}

test(`Pusher fuzz: ${SOCKETS} connections send ${SOCKETS * FRAMES_PER_SOCKET} seeded random and malformed frames over two workers; a client-event conversation beside them stays complete, every connection still answers, no process restarts`, async (t) => {
  const seed = Prng.seedFromEnv();
  console.log(`pusher fuzz seed ${seed} (replay: HOSTILE_SEED=${seed})`);
  const rng = new Prng(seed);
  // The conversation talks faster than the default client event rate allows.
  const config = join(tmpdir(), `conveyor-pusher-fuzz-${process.pid}.json`);
  writeFileSync(config, JSON.stringify({ pusherApps: [{ ...APP, clientEvents: true, clientEventRate: 100_000 }] }));
  const server = await startServer(['--workers', '2', '--config', config], t);
  const pids = await processIds(server, 2);

  // The conversation: two subscribers of a private channel exchanging client events.
  const [alice, bob] = await Promise.all([RawPusher.connect(server), RawPusher.connect(server)]);
  t.after(() => [alice, bob].forEach((c) => c.close()));
  for (const peer of [alice, bob]) {
    peer.send({ event: 'pusher:subscribe', data: { channel: 'private-talk', auth: channelAuth(peer.socketId, 'private-talk') } });
    await peer.next((f) => f['event'] === 'pusher_internal:subscription_succeeded');
  }
  let said = 0;
  const talk = setInterval(() => alice.send({ event: 'client-line', channel: 'private-talk', data: { n: said++ } }), 5);

  const fuzzers = await Promise.all(Array.from({ length: SOCKETS }, () => RawPusher.connect(server)));
  t.after(() => fuzzers.forEach((c) => c.close()));
  let closedBySignin = 0;
  await Promise.all(
    fuzzers.map(async (socket, index) => {
      const stream = rng.fork(index);
      let current = socket;
      for (let i = 0; i < FRAMES_PER_SOCKET; i++) {
        // Signin junk closes its connection with 4009, as it must: open a new one and go on.
        if (stream.chance(0.01)) {
          current.send({ event: 'pusher:signin', data: stream.pick<unknown>([{}, { auth: 'x', user_data: '{"id":"1"}' }, { user_data: 7 }]) });
          assert.equal(await current.closed, 4009);
          closedBySignin++;
          current = await RawPusher.connect(server);
          fuzzers.push(current);
          continue;
        }
        current.send(randomFrame(stream, current.socketId));
        if (i % 20 === 19) await current.barrier();
      }
      await current.barrier();
      assert.equal(current.closeCode, undefined, `seed ${seed}: connection ${index} was closed`);
    }),
  );
  clearInterval(talk);
  const last = said - 1;
  await bob.next((f) => f['event'] === 'client-line' && (f['data'] as { n: number }).n === last, 10_000);
  const heard = bob.frames.filter((f) => f['event'] === 'client-line').map((f) => (f['data'] as { n: number }).n);
  assert.deepEqual(heard, Array.from({ length: said }, (_, n) => n), 'the conversation arrived complete and in order');
  t.diagnostic(`seed ${seed}: ${said} conversation lines, ${closedBySignin} connections closed by signin junk`);
  await assertSameProcesses(server, pids);
  assert.ok(!server.rawOutput.join('\n').includes(APP.secret), 'the app secret never reached the logs');
});
