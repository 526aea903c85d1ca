import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateSchedule } from '../src/bench/rate-schedule.js';

function releaseAt(schedule: RateSchedule, now: number): { dueAt: number; index: number }[] {
  const bursts: { dueAt: number; index: number }[] = [];
  schedule.release(now, (dueAt, index) => bursts.push({ dueAt, index }));
  return bursts;
}

test('bursts are due at start + k × batch / rate, and the run holds rate × duration messages', () => {
  const schedule = new RateSchedule(1000, 1, 5_000, 1_005_000); // 1000 msg/s for 1 s, from t = 5 ms
  assert.equal(schedule.interval, 1000);
  assert.equal(schedule.bursts, 1000);
  assert.deepEqual(releaseAt(schedule, 4_999), [], 'nothing before the start');
  assert.deepEqual(releaseAt(schedule, 5_000), [{ dueAt: 5_000, index: 0 }]);
  assert.deepEqual(releaseAt(schedule, 6_500), [{ dueAt: 6_000, index: 1 }]);
  assert.equal(schedule.nextDue(), 7_000);
  releaseAt(schedule, 10_000_000);
  assert.ok(schedule.done);
  assert.equal(schedule.released, 1000);
  assert.equal(schedule.nextDue(), Infinity);
});

test('batches group messages into fewer, larger bursts at the same message rate', () => {
  const schedule = new RateSchedule(1000, 10, 0, 1_000_000);
  assert.equal(schedule.interval, 10_000);
  assert.equal(schedule.bursts, 100);
  releaseAt(schedule, 2_000_000);
  assert.equal(schedule.released, 1000);
});

test('open loop: a late generator sends every overdue burst at once, each stamped with its due time', () => {
  const schedule = new RateSchedule(100, 1, 0, 1_000_000); // one every 10 ms
  // The generator was stalled for 55 ms: the bursts of 0, 10, … 50 ms are all still owed.
  const late = releaseAt(schedule, 55_000);
  assert.deepEqual(
    late.map((b) => b.dueAt),
    [0, 10_000, 20_000, 30_000, 40_000, 50_000],
  );
  // The schedule did not shift: the next one is still due at 60 ms, not 55 + 10.
  assert.equal(schedule.nextDue(), 60_000);
});

test('bursts due at or after the end are not sent, and odd rates keep exact spacing', () => {
  const schedule = new RateSchedule(3, 1, 0, 1_000_000);
  const bursts = releaseAt(schedule, 5_000_000);
  assert.equal(bursts.length, 3);
  assert.ok(Math.abs(bursts[1]!.dueAt - 333_333.33) < 0.01);
  assert.equal(new RateSchedule(1000, 1, 10, 10).bursts, 0);
});

test('a schedule needs a positive rate and a whole batch', () => {
  assert.throws(() => new RateSchedule(0, 1, 0, 1), /rate must be more than 0/);
  assert.throws(() => new RateSchedule(10, 0, 0, 1), /batch/);
  assert.throws(() => new RateSchedule(10, 1.5, 0, 1), /batch/);
});
