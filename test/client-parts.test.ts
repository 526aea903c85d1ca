import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay } from '../src/client/backoff.js';
import { connectionFd, joinRefusal, parseFrame, presenceOf } from '../src/client/frames.js';
import { connectionUrl, withDefaults } from '../src/client/options.js';
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

test('the connection URL: the published query string (with or without a path), an object query, and the token as ?token=', () => {
  const base = { protocol: 'ws', uri: '127.0.0.1', port: 8000 } as const;
  assert.equal(connectionUrl({ ...base, query: '', token: null }), 'ws://127.0.0.1:8000/');
  assert.equal(connectionUrl({ ...base, query: '?room=1', token: 'a b' }), 'ws://127.0.0.1:8000/?room=1&token=a+b');
  assert.equal(connectionUrl({ ...base, query: '/socket?room=1', token: undefined }), 'ws://127.0.0.1:8000/socket?room=1');
  assert.equal(connectionUrl({ ...base, query: '/socket', token: 't' }), 'ws://127.0.0.1:8000/socket?token=t');
  assert.equal(connectionUrl({ ...base, protocol: 'wss', query: { token: 'old', x: '1' }, token: 'new' }), 'wss://127.0.0.1:8000/?token=new&x=1');
});

test('options: the published defaults, and undefined keeps a default', () => {
  const options = withDefaults({ port: undefined, uri: 'example.com' });
  assert.deepEqual(
    [options.protocol, options.uri, options.port, options.reconnect, options.reconnectDelay, options.healthCheckInterval, options.heartBeat, options.heartBeatInterval, options.acknowledge],
    ['ws', 'example.com', 8000, false, 5000, 3000, true, 10_000, false],
  );
});

test('server frames: connection-info, presence (listed, or counted above --presence-max-members), join refusals', () => {
  const info = parseFrame('{"action":"connection-info","data":"{\\"fd\\":3,\\"event\\":\\"connection-info\\"}"}')!;
  assert.equal(connectionFd(info), 3);
  assert.equal(parseFrame('"just a string"'), undefined);
  assert.equal(parseFrame('not json'), undefined);
  const listed = parseFrame(JSON.stringify({ action: 'channel-disconnect', data: JSON.stringify({ fd: 2, event: 'channel-presence', channel: 'c', fds: [1], userIds: [] }) }))!;
  assert.deepEqual(presenceOf(listed), { kind: 'leave', fd: 2, channel: 'c', count: 1, fds: [1], userIds: {} });
  const counted = parseFrame(JSON.stringify({ action: 'channel-connect', data: JSON.stringify({ fd: 9, event: 'channel-presence', channel: 'big', count: 1001 }) }))!;
  assert.deepEqual(presenceOf(counted), { kind: 'join', fd: 9, channel: 'big', count: 1001 });
  const refusal = parseFrame('{"action":"channel-connect","data":"Failed to connect to channel","fd":4}')!;
  assert.equal(presenceOf(refusal), undefined);
  assert.equal(joinRefusal(refusal), 'Failed to connect to channel');
  assert.equal(joinRefusal(counted), undefined);
});
