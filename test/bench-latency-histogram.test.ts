import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { LatencyHistogram } from '../src/bench/latency-histogram.js';

/** hdr keeps 3 significant digits: values within 0.1 % (plus the coarse tiers' half step) are equal. */
function near(actual: number, expected: number, message?: string): void {
  assert.ok(Math.abs(actual - expected) <= expected * 0.002 + 0.002, `${message ?? ''} ${actual} is not ~${expected}`);
}

test('an empty histogram has no summary', () => {
  assert.equal(new LatencyHistogram().summary(), undefined);
});

test('percentiles of recorded µs come out in ms', () => {
  const h = new LatencyHistogram();
  for (let micros = 1; micros <= 1000; micros++) h.record(micros * 10); // 10 µs … 10 ms
  const s = h.summary()!;
  assert.equal(s.count, 1000);
  near(s.p50, 5);
  near(s.p90, 9);
  near(s.p99, 9.9);
  near(s.p999, 9.99);
  near(s.max, 10);
  near(s.mean, 5.005);
});

test('values in every tier keep their magnitude (µs, 64 µs, 4 ms steps and beyond)', () => {
  const values = [3, 65_000, 70_000, 3_000_000, 5_000_000, 200_000_000];
  for (const value of values) {
    const h = new LatencyHistogram();
    h.record(value);
    const expected = Math.min(value, 120_000_000) / 1000;
    near(h.summary()!.p50, expected, `value ${value}`);
  }
  const tiny = new LatencyHistogram();
  tiny.record(0.2);
  assert.equal(tiny.summary()!.max, 0.001, 'below the clock granularity counts as 1 µs');
});

test('merging encoded histograms gives percentiles of the merged counts, not averages', () => {
  const fast = new LatencyHistogram();
  const slow = new LatencyHistogram();
  for (let i = 0; i < 900; i++) fast.record(1000);
  for (let i = 0; i < 100; i++) slow.record(100_000);
  const merged = new LatencyHistogram();
  merged.addEncoded(fast.encode());
  merged.addEncoded(slow.encode());
  const s = merged.summary()!;
  assert.equal(s.count, 1000);
  near(s.p50, 1);
  near(s.p90, 1);
  near(s.p99, 100);
  near(s.max, 100);
  // Recording after a read still counts: the flat tiers are moved into hdr at each read.
  merged.record(1000);
  assert.equal(merged.count, 1001);
});

test('histograms travel between worker threads and merge in the parent', async () => {
  const moduleUrl = new URL('../src/bench/latency-histogram.js', import.meta.url).href;
  const source = `
    import { parentPort, workerData } from 'node:worker_threads';
    const { LatencyHistogram } = await import(${JSON.stringify(moduleUrl)});
    const h = new LatencyHistogram();
    for (let i = 0; i < workerData.count; i++) h.record(workerData.micros);
    parentPort.postMessage(h.encode());
  `;
  const run = async (micros: number, count: number): Promise<string> => {
    const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(source)}`), { workerData: { micros, count } });
    const [encoded] = (await once(worker, 'message')) as [string];
    await worker.terminate();
    return encoded;
  };
  const merged = new LatencyHistogram();
  for (const encoded of await Promise.all([run(2000, 500), run(4000, 500)])) merged.addEncoded(encoded);
  const s = merged.summary()!;
  assert.equal(s.count, 1000);
  near(s.p50, 2);
  near(s.max, 4);
  near(s.mean, 3);
});
