import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FrameClient } from './helpers/frame-client.js';
import { envelope, sizedFrame } from './helpers/fuzz-frames.js';
import { Op, RawWebSocket, closeCodeOf } from './helpers/raw-ws.js';
import { assertSameProcesses, awaitHealth, fetchHealth, placeOnWorkers, processIds, type ProcessIds } from './helpers/server-health.js';
import { startServer, type RunningServer } from './helpers/server.js';

const MAX_PAYLOAD = 4096;
const CONVERSATION = 300;

/** Ways to send more than --max-payload, each from its own socket. */
interface Offence {
  what: string;
  /** The client it takes: a conforming library, or the raw socket for what no library sends. */
  kind: Offender['kind'];
  /** Over twice --max-payload: past what the server lets uWS buffer to answer politely. */
  far: boolean;
  /** Sends the offence and resolves with what the socket saw until it ended. */
  commit(socket: Offender): Promise<OffenceOutcome>;
}

type Offender = { kind: 'ws'; client: FrameClient } | { kind: 'raw'; raw: RawWebSocket };

interface OffenceOutcome {
  /** Frames the offender got after connection-info, described. */
  answers: string[];
  /** The close code the offender saw: from a close frame, or 1006 when the TCP connection just ended. */
  code: number;
}

async function rawOutcome(raw: RawWebSocket): Promise<OffenceOutcome> {
  const rest = await raw.rest(10_000);
  const close = rest.find((f) => f.opcode === Op.close);
  return { answers: rest.filter((f) => f.opcode !== Op.close).map((f) => raw.describeFrame(f)), code: close ? (closeCodeOf(close) ?? 1005) : 1006 };
}

const OFFENCES: Offence[] = [
  {
    what: 'one text frame of --max-payload + 1 bytes',
    kind: 'ws',
    far: false,
    async commit(socket) {
      assert.equal(socket.kind, 'ws');
      const { client } = socket;
      const mark = client.frames.length;
      client.send(sizedFrame(MAX_PAYLOAD + 1, false));
      const code = await client.closed;
      return { answers: client.frames.slice(mark), code };
    },
  },
  {
    what: 'a binary frame of --max-payload + 1 bytes (binary is otherwise ignored)',
    kind: 'ws',
    far: false,
    async commit(socket) {
      assert.equal(socket.kind, 'ws');
      const { client } = socket;
      const mark = client.frames.length;
      client.ws.send(Buffer.alloc(MAX_PAYLOAD + 1, 0x89), { binary: true });
      const code = await client.closed;
      return { answers: client.frames.slice(mark), code };
    },
  },
  {
    what: 'a text message in fragments each under --max-payload, together over it',
    kind: 'raw',
    far: false,
    async commit(socket) {
      assert.equal(socket.kind, 'raw');
      const { raw } = socket;
      const text = Buffer.from(sizedFrame(MAX_PAYLOAD + 100, false));
      const third = Math.ceil(text.length / 3);
      raw.send({ opcode: Op.text, fin: false, payload: text.subarray(0, third) });
      raw.send({ opcode: Op.continuation, fin: false, payload: text.subarray(third, 2 * third) });
      raw.send({ opcode: Op.continuation, fin: true, payload: text.subarray(2 * third) });
      return rawOutcome(raw);
    },
  },
  {
    what: 'one text frame of 3 × --max-payload bytes',
    kind: 'ws',
    far: true,
    async commit(socket) {
      assert.equal(socket.kind, 'ws');
      const { client } = socket;
      const mark = client.frames.length;
      client.send(sizedFrame(3 * MAX_PAYLOAD, false));
      const code = await client.closed;
      return { answers: client.frames.slice(mark), code };
    },
  },
  {
    what: 'a header announcing 2^63 - 1 bytes followed by 16 (the server must not wait for, or reserve, the rest)',
    kind: 'raw',
    far: true,
    async commit(socket) {
      assert.equal(socket.kind, 'raw');
      const { raw } = socket;
      raw.send({ opcode: Op.text, payload: Buffer.alloc(16, 0x61), declaredLength: 0x7fffffffffffffffn });
      return rawOutcome(raw);
    },
  },
];

/**
 * Messages over --max-payload: only the offending socket goes, while two sockets on its
 * worker and one on the other keep a numbered conversation going.
 */
describe('oversize frames', () => {
  let server: RunningServer;
  let pids: ProcessIds;
  let workerIds: number[];

  before(async () => {
    server = await startServer(['--workers', '2', '--max-payload', String(MAX_PAYLOAD)]);
    pids = await processIds(server, 2);
    workerIds = (await fetchHealth(server)).workers.map((w) => w.id).sort((a, b) => a - b);
  });
  after(async () => {
    await server?.stop();
  });

  const openOffender = async (kind: Offender['kind']): Promise<Offender> => {
    if (kind === 'ws') return { kind, client: await FrameClient.connect(server.url) };
    const raw = await RawWebSocket.connect(server.port, { protocol: 'socketconveyor.com' });
    assert.match(await raw.nextText(), /"connection-info"/);
    return { kind, raw };
  };
  const closeOffender = async (o: Offender): Promise<void> => {
    if (o.kind === 'ws') {
      o.client.close();
      await o.client.closed;
    } else {
      o.raw.destroy();
      await o.raw.closed;
    }
  };

  test(`a frame of exactly --max-payload (${MAX_PAYLOAD}) bytes is served, multi-byte characters included`, async (t) => {
    const client = await FrameClient.connect(server.url);
    // The next test counts the server's sockets: this one must be gone, not closing, when it starts.
    t.after(async () => {
      client.close();
      await client.closed;
    });
    for (const wide of [false, true]) {
      const frame = sizedFrame(MAX_PAYLOAD, wide);
      assert.equal(Buffer.byteLength(frame), MAX_PAYLOAD);
      client.send(frame);
      assert.equal(await client.next(), envelope('base-action', (JSON.parse(frame) as { data: string }).data, client.fd));
    }
  });

  test(`over --max-payload (${OFFENCES.map((o) => o.what).join('; ')}): only that socket is closed, unanswered, while a conversation on the same worker goes on complete and in order`, async (t) => {
    const room = 'oversize.room';
    const [talker, nearby, remote] = await placeOnWorkers(server, [workerIds[0]!, workerIds[0]!, workerIds[1]!], () => FrameClient.connect(server.url), async (c) => {
      c.close();
      await c.closed;
    });
    const members = [talker!, nearby!, remote!];
    t.after(() => members.forEach((c) => c.close()));
    for (const c of members) {
      c.send({ action: 'channel-connect', channel: room });
      await c.barrier(`joined-${c.fd}`);
    }
    // Every offender sits on the talker's worker, where the oversize frames arrive.
    const offenders: Offender[] = [];
    for (const offence of OFFENCES) {
      const [offender] = await placeOnWorkers(server, [workerIds[0]!], () => openOffender(offence.kind), closeOffender);
      offenders.push(offender!);
    }
    t.after(() => offenders.forEach((o) => (o.kind === 'ws' ? o.client.close() : o.raw.destroy())));
    const openBefore = (await fetchHealth(server)).connections;

    // The offences go out while the talker is mid-conversation, one every CONVERSATION / OFFENCES.length messages.
    const outcomes: Promise<OffenceOutcome>[] = [];
    const every = Math.floor(CONVERSATION / (OFFENCES.length + 1));
    for (let seq = 0; seq < CONVERSATION; seq++) {
      talker!.send({ action: 'broadcast-action', data: { seq } });
      const o = seq / every - 1;
      if (seq % every === 0 && o >= 0 && o < OFFENCES.length) outcomes.push(OFFENCES[o]!.commit(offenders[o]!));
    }
    talker!.send({ action: 'broadcast-action', data: { seq: 'end' } });
    const settled = await Promise.all(outcomes);

    for (const listener of [nearby!, remote!]) {
      await listener.next((f) => f === envelope('broadcast-action', { seq: 'end' }, talker!.fd), 20_000);
      const heard = listener.frames.filter((f) => f.startsWith('{"action":"broadcast-action"'));
      const expected = [...Array.from({ length: CONVERSATION }, (_, seq) => envelope('broadcast-action', { seq }, talker!.fd)), envelope('broadcast-action', { seq: 'end' }, talker!.fd)];
      assert.deepEqual(heard, expected, `fd ${listener.fd} heard the whole conversation in order`);
    }
    await talker!.barrier('talker still served');

    settled.forEach((outcome, i) => {
      t.diagnostic(`${OFFENCES[i]!.what}: closed with ${outcome.code}`);
      assert.deepEqual(outcome.answers, [], `${OFFENCES[i]!.what}: nothing answers the oversize message`);
    });
    await awaitHealth(server, (h) => h.connections === openBefore - OFFENCES.length, 'the offenders are counted out');
    await assertSameProcesses(server, pids);
  });

  const near = OFFENCES.filter((o) => !o.far);
  const far = OFFENCES.filter((o) => o.far);

  const closeCodes = async (offences: Offence[]): Promise<string[]> => {
    const codes: string[] = [];
    for (const offence of offences) {
      const offender = await openOffender(offence.kind);
      const outcome = await offence.commit(offender);
      codes.push(`${offence.what}: ${outcome.code}`);
    }
    return codes;
  };

  test(`the socket that sent too much is closed with close code 1009 (PROTOCOL.md): ${near.map((o) => o.what).join('; ')}`, async () => {
    assert.deepEqual(await closeCodes(near), near.map((o) => `${o.what}: 1009`));
    await assertSameProcesses(server, pids);
  });

  test(
    `far over the limit too, the close code is 1009 (PROTOCOL.md: "A frame over --max-payload closes the socket with 1009"): ${far.map((o) => o.what).join('; ')}`,
    { todo: 'uWS is given twice --max-payload and cuts anything larger without a close frame, on purpose (src/transport/app.ts): the client sees 1006, not 1009' },
    async () => {
      assert.deepEqual(await closeCodes(far), far.map((o) => `${o.what}: 1009`));
    },
  );
});
