import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay } from '../src/client/backoff.js';
import { Outbox } from '../src/client/outbox.js';
import { RecentIds } from '../src/client/recent-ids.js';

test('reconnect delays grow exponentially up to the cap, with full jitter from zero', () => {
  const top = (attempt: number): number => backoffDelay(attempt, 100, 1000, () => 0.999999);
  assert.deepEqual([0, 1, 2, 3, 4, 10].map(top), [99, 199, 399, 799, 999, 999]);
  assert.equal(backoffDelay(5, 100, 1000, () => 0), 0);
  assert.equal(backoffDelay(1000, 100, 1000, () => 0.5), 500, 'huge attempt counts do not overflow');
});

test('the outgoing queue keeps order and applies its overflow policy', () => {
  const oldest = new Outbox(2, 'drop-oldest');
  assert.deepEqual([oldest.push('a'), oldest.push('b'), oldest.push('c')], [undefined, undefined, 'a']);
  assert.deepEqual(oldest.drain(), ['b', 'c']);
  assert.equal(oldest.size, 0);
  const newest = new Outbox(1, 'drop-newest');
  newest.push('a');
  assert.equal(newest.push('b'), 'b');
  assert.deepEqual(newest.drain(), ['a']);
  const strict = new Outbox(1, 'error');
  strict.push('a');
  assert.throws(() => strict.push('b'), /outgoing queue is full \(1 frames\)/);
});

test('recent ids report a re-sent id once, and forget the oldest past their capacity', () => {
  const ids = new RecentIds(2);
  assert.deepEqual(['a', 'a', 'b', 'c', 'a'].map((id) => ids.firstSight(id)), [true, false, true, true, true]);
});
