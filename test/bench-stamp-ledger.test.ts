import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SequenceLedger } from '../src/bench/sequence-ledger.js';
import { restamp, StampReader, STAMP_LENGTH, writeStamp } from '../src/bench/stamp.js';

test('a stamp carries time, sender and sequence through JSON unchanged', () => {
  const data = Buffer.alloc(64);
  writeStamp(data, 0, 64, 123_456_789.4, 42, 7);
  const json = JSON.stringify({ action: 'broadcast-action', data: data.toString('latin1'), fd: 3 });
  const wire = Buffer.from(JSON.parse(JSON.stringify(JSON.parse(json))).data, 'latin1');
  const reader = new StampReader();
  assert.ok(reader.read(wire, 0, wire.length));
  assert.deepEqual([reader.micros, reader.sender, reader.sequence], [123_456_789, 42, 7]);
  restamp(wire, 0, 5, 999_999_999);
  assert.ok(reader.read(wire, 0, wire.length));
  assert.deepEqual([reader.micros, reader.sender, reader.sequence], [5, 42, 999_999_999]);
  assert.equal(wire.length, 64, 'padding fills the payload size');
  assert.equal(reader.read(wire, 0, STAMP_LENGTH - 1), false, 'a cut stamp is not a stamp');
  assert.equal(reader.read(Buffer.from('~abc'.padEnd(40, 'x')), 0, 40), false);
});

test('the ledger splits every sent message into delivered, skipped or never arrived', () => {
  // Receiver of channel 1 of 3: it hears senders 1, 4, 7 (3 publishers in its channel).
  const ledger = new SequenceLedger(1, 3, 3);
  for (const seq of [0, 1, 2, 5, 6]) assert.ok(ledger.accept(1, seq)); // sender 1: 3 and 4 skipped
  for (const seq of [0, 2, 1]) ledger.accept(4, seq); // sender 4: 1 arrives late
  ledger.accept(7, 0);
  assert.equal(ledger.accept(2, 0), false, 'sender 2 belongs to another channel');
  assert.equal(ledger.delivered, 9);
  assert.equal(ledger.gaps, 2);
  assert.equal(ledger.late, 1);
  assert.equal(ledger.foreign, 1);
  const sent = [10, 3, 1];
  const missing = ledger.missing((slot) => sent[slot]!);
  assert.equal(missing, 3, 'sender 1 sent 7..9 that never came');
  assert.equal(ledger.delivered + ledger.gaps + missing, sent.reduce((a, b) => a + b));
});

test('a message that comes again when no gap is open is a repeat (a re-send), not a delivery', () => {
  const ledger = new SequenceLedger(0, 1, 1);
  for (const seq of [0, 1, 2]) assert.ok(ledger.accept(0, seq));
  assert.equal(ledger.accept(0, 1), false, 'a re-send of 1');
  assert.ok(ledger.accept(0, 4)); // 3 skipped
  assert.ok(ledger.accept(0, 3), '3 fills the open gap: late, a delivery');
  assert.equal(ledger.accept(0, 3), false, 'and again: a repeat');
  assert.deepEqual([ledger.delivered, ledger.gaps, ledger.late, ledger.repeated], [5, 0, 1, 2]);
});
