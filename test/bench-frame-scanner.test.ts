import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrameError, FrameScanner, Opcode } from '../src/bench/frame-scanner.js';

/** A server → client frame (unmasked), with the shortest length encoding, as servers send. */
function serverFrame(opcode: number, payload: Buffer | string, options: { fin?: boolean; longLength?: boolean } = {}): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const fin = options.fin ?? true;
  let header: Buffer;
  if (body.length < 126 && !options.longLength) header = Buffer.from([(fin ? 0x80 : 0) | opcode, body.length]);
  else if (body.length < 0x10000 && !options.longLength) {
    header = Buffer.alloc(4);
    header[0] = (fin ? 0x80 : 0) | opcode;
    header[1] = 126;
    header.writeUInt16BE(body.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = (fin ? 0x80 : 0) | opcode;
    header[1] = 127;
    header.writeUInt32BE(Math.floor(body.length / 2 ** 32), 2);
    header.writeUInt32BE(body.length >>> 0, 6);
  }
  return Buffer.concat([header, body]);
}

interface Seen {
  opcode: number;
  text: string;
}

function collector(): { scanner: FrameScanner; seen: Seen[] } {
  const seen: Seen[] = [];
  const scanner = new FrameScanner((opcode, payload, start, end) => seen.push({ opcode, text: payload.toString('latin1', start, end) }));
  return { scanner, seen };
}

const medium = 'm'.repeat(300); // 16-bit length
const large = Buffer.alloc(70_000, 0x61); // 64-bit length
const stream = Buffer.concat([
  serverFrame(Opcode.text, 'hello'),
  serverFrame(Opcode.text, medium),
  serverFrame(Opcode.binary, large),
  serverFrame(Opcode.ping, 'p'),
  serverFrame(Opcode.text, ''),
  serverFrame(Opcode.text, 'short in a long length', { longLength: true }),
  serverFrame(Opcode.text, 'last'),
]);
const expected: Seen[] = [
  { opcode: Opcode.text, text: 'hello' },
  { opcode: Opcode.text, text: medium },
  { opcode: Opcode.binary, text: large.toString('latin1') },
  { opcode: Opcode.ping, text: 'p' },
  { opcode: Opcode.text, text: '' },
  { opcode: Opcode.text, text: 'short in a long length' },
  { opcode: Opcode.text, text: 'last' },
];

test('whole frames in one chunk: 7-bit, 16-bit and 64-bit lengths', () => {
  const { scanner, seen } = collector();
  scanner.push(stream);
  assert.deepEqual(seen, expected);
  assert.equal(scanner.pending, 0);
});

test('a stream cut at every byte boundary gives the same messages', () => {
  // Every cut position of the small frames, including inside the 2-, 4- and 10-byte headers.
  const small = Buffer.concat([serverFrame(Opcode.text, 'hello'), serverFrame(Opcode.text, medium), serverFrame(Opcode.text, 'x', { longLength: true })]);
  for (let cut = 1; cut < small.length; cut++) {
    const { scanner, seen } = collector();
    scanner.push(small.subarray(0, cut));
    scanner.push(small.subarray(cut));
    assert.deepEqual(
      seen.map((s) => s.text),
      ['hello', medium, 'x'],
      `cut at ${cut}`,
    );
  }
});

test('one byte at a time, and uneven chunks across a 64-bit-length frame', () => {
  const bytewise = collector();
  for (let i = 0; i < stream.length; i++) bytewise.scanner.push(stream, i, i + 1);
  assert.deepEqual(bytewise.seen, expected);

  const uneven = collector();
  let at = 0;
  for (const size of [3, 7, 1000, 1, 65_536, 13, 9_999_999]) {
    uneven.scanner.push(stream.subarray(at, Math.min(stream.length, at + size)));
    at += size;
    if (at >= stream.length) break;
  }
  assert.deepEqual(uneven.seen, expected);
});

test('frames whole inside a chunk are handed out in place, without a copy', () => {
  const chunk = serverFrame(Opcode.text, 'in place');
  let handed: Buffer | undefined;
  new FrameScanner((_opcode, payload) => (handed = payload)).push(chunk);
  assert.equal(handed, chunk);
});

test('fragmented messages are joined; a control frame between fragments comes out at once', () => {
  const { scanner, seen } = collector();
  scanner.push(
    Buffer.concat([
      serverFrame(Opcode.text, 'frag', { fin: false }),
      serverFrame(Opcode.ping, 'between'),
      serverFrame(Opcode.continuation, 'men', { fin: false }),
      serverFrame(Opcode.continuation, 'ted'),
    ]),
  );
  assert.deepEqual(seen, [
    { opcode: Opcode.ping, text: 'between' },
    { opcode: Opcode.text, text: 'fragmented' },
  ]);
});

test('streams that are not valid server WebSocket are refused with a reason', () => {
  const masked = Buffer.from([0x81, 0x80 | 1, 0, 0, 0, 0, 0x61]);
  assert.throws(() => collector().scanner.push(masked), (e: unknown) => e instanceof FrameError && /masked/.test(e.message));
  const reserved = Buffer.from([0x81 | 0x40, 1, 0x61]);
  assert.throws(() => collector().scanner.push(reserved), /reserved bits/);
  const orphan = serverFrame(Opcode.continuation, 'x');
  assert.throws(() => collector().scanner.push(orphan), /continuation/);
  const tooBig = new FrameScanner(() => {}, 100);
  assert.throws(() => tooBig.push(serverFrame(Opcode.text, 'y'.repeat(101))), /limit/);
});
