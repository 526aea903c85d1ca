import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { BroadcastScript } from './helpers/broadcast-script.js';
import { Fleet, TOPOLOGIES, envelope, framesSince, sharedServer, uniqueChannel } from './helpers/conformance.js';
import type { FrameClient } from './helpers/frame-client.js';

const MAX_PAYLOAD = 4096;

/** PHP's own texts for frames missing a field (PROTOCOL.md, Errors), each with the frames that trigger it. */
const PHP_ERRORS: { row: string; action: string; text: string; frames: Record<string, unknown>[] }[] = [
  {
    row: 'channel-connect without channel',
    action: 'channel-connect',
    text: 'Channel connection must specify "channel"!',
    frames: [{ action: 'channel-connect' }, { action: 'channel-connect', channel: null }, { action: 'channel-connect', auth: null }],
  },
  {
    row: 'broadcast-action without data',
    action: 'broadcast-action',
    text: "BroadcastAction required 'data' field to be created!",
    frames: [{ action: 'broadcast-action' }, { action: 'broadcast-action', data: null }],
  },
  {
    row: 'base-action without data',
    action: 'base-action',
    text: "BaseAction required 'data' field to be created!",
    frames: [{ action: 'base-action' }, { action: 'base-action', data: null }],
  },
  {
    row: 'fanout-action without data',
    action: 'fanout-action',
    text: "FanoutAction required 'data' field to be created!",
    frames: [{ action: 'fanout-action' }, { action: 'fanout-action', data: null }],
  },
  {
    row: 'acknowledge-action without data',
    action: 'acknowledge-action',
    text: "AcknowledgeAction required 'data' field to be created!",
    frames: [{ action: 'acknowledge-action' }, { action: 'acknowledge-action', data: null }],
  },
  {
    row: 'assoc-user-to-fd-action without userId',
    action: 'assoc-user-to-fd-action',
    text: 'The userId is required to associate connection to team!',
    frames: [{ action: 'assoc-user-to-fd-action' }, { action: 'assoc-user-to-fd-action', userId: null }],
  },
];

/** Frames the PHP server crashes on; we answer an `error` frame naming what was wrong. */
const ERROR_FRAMES: { what: string; frame: string; text: string }[] = [
  { what: 'a JSON array', frame: '[{"action":"base-action","data":1}]', text: 'Frame must be a JSON object with a string "action"; got a JSON array.' },
  { what: 'an empty JSON array', frame: '[]', text: 'Frame must be a JSON object with a string "action"; got a JSON array.' },
  { what: 'a missing action', frame: '{"data":"x"}', text: 'Frame must have an "action" field naming the action to run.' },
  { what: 'a null action', frame: '{"action":null,"data":"x"}', text: 'Frame must have an "action" field naming the action to run.' },
  { what: 'a numeric action', frame: '{"action":5,"data":"x"}', text: 'Field "action" must be a string.' },
  { what: 'an object action', frame: '{"action":{"name":"base-action"},"data":"x"}', text: 'Field "action" must be a string.' },
  {
    what: 'an unknown action',
    frame: '{"action":"no-such-action","data":"x"}',
    text: 'Unknown action "no-such-action". Send one of the actions this server registers (base-action, channel-connect, …).',
  },
  { what: 'a numeric channel', frame: '{"action":"channel-connect","channel":5}', text: 'Field "channel" must be a string.' },
  { what: 'an object channel', frame: '{"action":"channel-connect","channel":{"name":"x"}}', text: 'Field "channel" must be a string.' },
  { what: 'an object userId', frame: '{"action":"assoc-user-to-fd-action","userId":{"id":7}}', text: 'Field "userId" must be an integer or a string.' },
  { what: 'a boolean userId', frame: '{"action":"assoc-user-to-fd-action","userId":true}', text: 'Field "userId" must be an integer or a string.' },
  { what: 'an array userId', frame: '{"action":"assoc-user-to-fd-action","userId":[7]}', text: 'Field "userId" must be an integer or a string.' },
  { what: 'a numeric auth', frame: '{"action":"channel-connect","channel":"x","auth":5}', text: 'Field "auth" must be a string or null.' },
  { what: 'a numeric acknowledged id', frame: '{"action":"acknowledge-action","data":5}', text: 'Field "data" must be the string id of the acknowledged message.' },
];

for (const topology of TOPOLOGIES) {
  describe(`errors, ${topology.label}`, () => {
    const server = sharedServer([...topology.flags, '--max-payload', String(MAX_PAYLOAD)]);

    /**
     * An offender and a bystander in one channel plus a channel-less bystander, on
     * different workers; afterwards all three must still talk, and only the offender
     * may have heard about its frames.
     */
    async function withBystanders(t: TestContext, body: (offender: FrameClient) => Promise<void>): Promise<void> {
      const fleet = new Fleet(server(), topology, t);
      const clients = await fleet.spread(3);
      const [offender, peer, lobby] = clients as [FrameClient, FrameClient, FrameClient];
      const room = uniqueChannel('errors');
      const script = new BroadcastScript(clients);
      await script.join(offender, room);
      await script.join(peer, room);
      await body(offender);
      script.resync(offender);
      // The offender is still connected and in its channel; the others saw none of its frames.
      await script.broadcast(offender, 'offender still talks');
      await script.broadcast(peer, 'peer still talks');
      await script.broadcast(lobby, 'lobby still talks');
      script.verify();
    }

    for (const { row, action, text, frames } of PHP_ERRORS) {
      test(`${row}: one error frame in the action's envelope, to the sender only; the connection stays open [${topology.label}]`, async (t) => {
        await withBystanders(t, async (offender) => {
          for (const frame of frames) {
            const mark = offender.frames.length;
            offender.send(frame);
            await offender.barrier('after-error');
            assert.deepEqual(
              framesSince(offender, mark),
              [envelope(action, text, offender.fd), envelope('base-action', 'after-error', offender.fd)],
              JSON.stringify(frame),
            );
          }
        });
      });
    }

    test(`a JSON array, a missing or non-string action, an unknown action and fields of the wrong type get {"action":"error",…,"fd":self}; other clients keep working [${topology.label}]`, async (t) => {
      await withBystanders(t, async (offender) => {
        for (const { what, frame, text } of ERROR_FRAMES) {
          const mark = offender.frames.length;
          offender.send(frame);
          await offender.barrier('after-error');
          assert.deepEqual(framesSince(offender, mark), [envelope('error', text, offender.fd), envelope('base-action', 'after-error', offender.fd)], what);
        }
        assert.equal(
          envelope('error', ERROR_FRAMES[0]!.text, offender.fd),
          `{"action":"error","data":"Frame must be a JSON object with a string \\"action\\"; got a JSON array.","fd":${offender.fd}}`,
        );
      });
    });

    test(`an acknowledge-action that is not valid JSON (a raw control character in its id) is echoed as text, as every frame that is not JSON is [${topology.label}]`, async (t) => {
      await withBystanders(t, async (offender) => {
        const frame = '{"action":"acknowledge-action","data":"id-3 \u0001 x"}';
        assert.throws(() => JSON.parse(frame), 'the frame is not JSON');
        const mark = offender.frames.length;
        offender.send(frame);
        await offender.barrier('after-echo');
        assert.deepEqual(framesSince(offender, mark), [envelope('base-action', frame, offender.fd), envelope('base-action', 'after-echo', offender.fd)]);
      });
    });

    test(`a frame of exactly --max-payload bytes is served; one byte more, or twice the limit, closes that socket with 1009 while the others keep working [${topology.label}]`, async (t) => {
      const fleet = new Fleet(server(), topology, t);
      const clients = await fleet.spread(5);
      const [offender, second, ...others] = clients as [FrameClient, FrameClient, FrameClient, FrameClient, FrameClient];
      const room = uniqueChannel('payload');
      for (const client of clients) {
        client.send({ action: 'channel-connect', channel: room });
        await client.barrier();
      }
      const frameOf = (size: number): string => {
        const head = '{"action":"base-action","data":"';
        const text = `${head}${'p'.repeat(size - head.length - 2)}"}`;
        assert.equal(Buffer.byteLength(text), size);
        return text;
      };
      const fits = frameOf(MAX_PAYLOAD);
      offender.send(fits);
      assert.equal(await offender.next(), envelope('base-action', (JSON.parse(fits) as { data: string }).data, offender.fd));
      offender.send(frameOf(MAX_PAYLOAD + 1));
      second.send(frameOf(MAX_PAYLOAD * 2));
      // 1006 would mean the TCP connection was cut without a close frame: clients cannot tell it from a network failure.
      assert.equal(await offender.closed, 1009, 'PROTOCOL.md: a frame over --max-payload closes the socket with 1009');
      assert.equal(await second.closed, 1009, 'PROTOCOL.md: a frame over --max-payload closes the socket with 1009');
      const script = new BroadcastScript(others);
      for (const sender of others) await script.broadcast(sender, `after the oversize frames, from ${sender.fd}`);
      script.verify();
    });
  });
}
