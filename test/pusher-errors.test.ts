import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { APP, RawPusher, assertCacheChannel, channelAuth, signedPath } from './helpers/pusher.js';
import { assertSameProcesses, processIds } from './helpers/server-health.js';
import { startServer, type RunningServer } from './helpers/server.js';

/**
 * Every error row of PUSHER.md, through raw frames and hand-signed requests against one
 * server with four apps: the main one (client events on), a disabled one, one with a quota
 * of one connection and one with client events off and a presence cap of two.
 */
const OFF = { id: 'app-off', key: 'key-off', secret: 'secret-off' };
const QUOTA = { id: 'app-quota', key: 'key-quota', secret: 'secret-quota' };
const QUIET = { id: 'app-quiet', key: 'key-quiet', secret: 'secret-quiet' };
/** Client events at the default rate (10/s), and a cap of 5 channels per connection. */
const STEADY = { id: 'app-steady', key: 'key-steady', secret: 'secret-steady' };

let server: RunningServer;
let pids: Awaited<ReturnType<typeof processIds>>;

before(async () => {
  const config = join(tmpdir(), `conveyor-pusher-${process.pid}.json`);
  writeFileSync(
    config,
    JSON.stringify({
      pusherApps: [
        { ...APP, clientEvents: true, clientEventRate: 5, maxEventBytes: 1024 },
        { ...OFF, enabled: false },
        { ...QUOTA, maxConnections: 1 },
        { ...QUIET, maxPresenceMembers: 2 },
        { ...STEADY, clientEvents: true, maxChannelsPerConnection: 5 },
      ],
    }),
  );
  server = await startServer(['--config', config, '--workers', '2']);
  pids = await processIds(server, 2);
});
after(async () => {
  await server.stop();
});

async function errorOf(raw: RawPusher): Promise<{ code: number | null; message: string }> {
  return (await raw.next((f) => f['event'] === 'pusher:error'))['data'] as { code: number | null; message: string };
}

describe('connections', () => {
  test('an unknown app key gets pusher:error 4001, then close 4001', async () => {
    const raw = await RawPusher.open(server, 'no-such-key');
    assert.equal((await errorOf(raw)).code, 4001);
    assert.equal(await raw.closed, 4001);
  });

  test('a disabled app gets 4003, an app over its connection quota 4004', async () => {
    const off = await RawPusher.open(server, OFF.key);
    assert.equal((await errorOf(off)).code, 4003);
    assert.equal(await off.closed, 4003);
    const first = await RawPusher.connect(server, QUOTA.key);
    const second = await RawPusher.open(server, QUOTA.key);
    assert.equal((await errorOf(second)).code, 4004);
    assert.equal(await second.closed, 4004);
    first.close();
    await first.closed;
  });

  test('no protocol version is 4008; a version below 5 or above 7 is 4007', async () => {
    for (const [query, code] of [['client=js', 4008], ['protocol=4', 4007], ['protocol=8', 4007], ['protocol=x', 4007]] as const) {
      const raw = await RawPusher.open(server, APP.key, query);
      assert.equal((await errorOf(raw)).code, code, query);
      assert.equal(await raw.closed, code, query);
    }
  });

  test('connection_established carries a socket_id and activity_timeout as a JSON string; pusher:ping gets pusher:pong', async () => {
    const raw = await RawPusher.connect(server);
    assert.match(raw.socketId, /^\d+\.\d+$/);
    const data = JSON.parse(raw.frames[0]!['data'] as string) as { activity_timeout: number };
    assert.equal(typeof data.activity_timeout, 'number');
    raw.send({ event: 'pusher:ping', data: {} });
    assert.deepEqual(await raw.next(), { event: 'pusher:pong', data: '{}' });
    raw.close();
  });
});

describe('subscriptions', () => {
  test('private and presence subscriptions with a missing or wrong signature, or bad channel_data, get subscription_error and join nothing', async () => {
    const raw = await RawPusher.connect(server);
    const refusal = async (data: Record<string, unknown>): Promise<Record<string, unknown>> => {
      raw.send({ event: 'pusher:subscribe', data });
      return raw.next((f) => f['event'] === 'pusher:subscription_error' || f['event'] === 'pusher_internal:subscription_succeeded');
    };
    for (const data of [
      { channel: 'private-a' },
      { channel: 'private-a', auth: 'app-key:00' },
      { channel: 'private-a', auth: channelAuth(raw.socketId, 'private-b') },
      { channel: 'private-a', auth: channelAuth(raw.socketId, 'private-a').replace(APP.key, 'other-key') },
      { channel: 'presence-a', auth: channelAuth(raw.socketId, 'presence-a') },
      { channel: 'presence-a', auth: channelAuth(raw.socketId, 'presence-a', '{"user_id":"1"}'), channel_data: '{"user_id":"2"}' },
    ]) {
      const frame = await refusal(data);
      assert.equal(frame['event'], 'pusher:subscription_error', JSON.stringify(data));
      assert.equal(frame['channel'], data.channel);
      assert.equal((frame['data'] as { status: number }).status, 401);
    }
    const badData = '{"name":"no user id"}';
    const frame = await refusal({ channel: 'presence-a', auth: channelAuth(raw.socketId, 'presence-a', badData), channel_data: badData });
    assert.equal((frame['data'] as { type: string; status: number }).status, 400);
    // A right signature works on the same connection.
    const ok = await refusal({ channel: 'private-a', auth: channelAuth(raw.socketId, 'private-a') });
    assert.deepEqual(ok, { event: 'pusher_internal:subscription_succeeded', channel: 'private-a', data: '{}' });
    raw.close();
  });

  test('channel names: over 164 characters or with other characters are refused; #server-to-user channels only for the signed-in user', async () => {
    const raw = await RawPusher.connect(server);
    for (const channel of ['x'.repeat(165), 'bad name', 'bad/name', '']) {
      raw.send({ event: 'pusher:subscribe', data: { channel } });
      assert.match((await errorOf(raw)).message, /Channel name/);
    }
    raw.send({ event: 'pusher:subscribe', data: { channel: 'x'.repeat(164) } });
    assert.equal((await raw.next())['event'], 'pusher_internal:subscription_succeeded');
    raw.send({ event: 'pusher:subscribe', data: { channel: '#server-to-user-7' } });
    assert.equal(((await raw.next())['data'] as { status: number }).status, 403);
    raw.close();
  });

  test('a presence channel at its member cap refuses a third user, not another connection of a member', async () => {
    const join = async (user: string): Promise<Record<string, unknown>> => {
      const raw = await RawPusher.connect(server, QUIET.key);
      const data = JSON.stringify({ user_id: user });
      raw.send({ event: 'pusher:subscribe', data: { channel: 'presence-cap', auth: channelAuth(raw.socketId, 'presence-cap', data, QUIET), channel_data: data } });
      return raw.next((f) => String(f['event']).includes('subscription'));
    };
    for (const user of ['1', '2', '1']) assert.equal((await join(user))['event'], 'pusher_internal:subscription_succeeded', user);
    const refused = await join('3');
    assert.equal(refused['event'], 'pusher:subscription_error');
    assert.equal((refused['data'] as { status: number }).status, 403);
  });

  test('pusher:unsubscribe sent before subscription_succeeded undoes the subscription: no event reaches the socket and the channel is vacant', async () => {
    const raw = await RawPusher.connect(server);
    const publish = async (channel: string, name: string): Promise<void> => {
      const body = JSON.stringify({ name, channel, data: '{}' });
      assert.equal((await fetch(`${server.httpUrl}${signedPath('POST', `/apps/${APP.id}/events`, body)}`, { method: 'POST', body })).status, 200);
    };
    raw.send({ event: 'pusher:subscribe', data: { channel: 'changed-mind' } });
    raw.send({ event: 'pusher:unsubscribe', data: { channel: 'changed-mind' } });
    raw.send({ event: 'pusher:subscribe', data: { channel: 'after' } });
    await raw.next((f) => f['event'] === 'pusher_internal:subscription_succeeded' && f['channel'] === 'after');
    await raw.barrier();
    await publish('changed-mind', 'unwanted');
    await publish('after', 'wanted');
    await raw.next((f) => f['event'] === 'wanted');
    assert.deepEqual(raw.frames.filter((f) => f['channel'] === 'changed-mind'), []);
    const info = await fetch(`${server.httpUrl}${signedPath('GET', `/apps/${APP.id}/channels/changed-mind`, '')}`);
    assert.deepEqual(await info.json(), { occupied: false });
    // Subscribing, unsubscribing and subscribing again before any answer ends subscribed.
    raw.send({ event: 'pusher:subscribe', data: { channel: 'again' } });
    raw.send({ event: 'pusher:unsubscribe', data: { channel: 'again' } });
    raw.send({ event: 'pusher:subscribe', data: { channel: 'again' } });
    await raw.next((f) => f['event'] === 'pusher_internal:subscription_succeeded' && f['channel'] === 'again');
    await publish('again', 'kept');
    await raw.next((f) => f['event'] === 'kept' && f['channel'] === 'again');
    raw.close();
  });

  test('a member whose user_id is __proto__ or constructor is in the roster like any other', async () => {
    const joined: RawPusher[] = [];
    let roster: { count: number; ids: string[]; hash: Record<string, unknown> } | undefined;
    for (const user of ['__proto__', 'constructor', '1']) {
      const raw = await RawPusher.connect(server);
      joined.push(raw);
      const data = JSON.stringify({ user_id: user, user_info: { name: `n-${user}` } });
      raw.send({ event: 'pusher:subscribe', data: { channel: 'presence-proto', auth: channelAuth(raw.socketId, 'presence-proto', data), channel_data: data } });
      const frame = await raw.next((f) => f['event'] === 'pusher_internal:subscription_succeeded');
      roster = (JSON.parse(frame['data'] as string) as { presence: typeof roster }).presence;
    }
    assert.equal(roster!.count, 3);
    assert.deepEqual([...roster!.ids].sort(), ['1', '__proto__', 'constructor']);
    assert.ok(Object.hasOwn(roster!.hash, '__proto__'));
    assert.deepEqual(Object.getOwnPropertyDescriptor(roster!.hash, '__proto__')?.value, { name: 'n-__proto__' });
    const added = await joined[0]!.next((f) => f['event'] === 'pusher_internal:member_added' && String(f['data']).includes('"constructor"'));
    assert.equal((JSON.parse(added['data'] as string) as { user_id: string }).user_id, 'constructor');
    joined.forEach((raw) => raw.close());
  });

  test('cache channels send the last event right after subscription_succeeded, or pusher:cache_miss', async () => {
    const body = JSON.stringify({ name: 'price', channel: 'cache-prices', data: '{"eur":1}' });
    const publish = async (): Promise<void> => {
      assert.equal((await fetch(`${server.httpUrl}${signedPath('POST', `/apps/${APP.id}/events`, body)}`, { method: 'POST', body })).status, 200);
    };
    await assertCacheChannel(server, 'cache-prices', publish, { event: 'price', data: '{"eur":1}' });
  });

  test('cache channels keep 64 MiB of last events in all: past it the least recently written are dropped first', async () => {
    const data = 'c'.repeat(1000);
    const trigger = async (r: number): Promise<void> => {
      const body = JSON.stringify({ name: 'fill', channels: Array.from({ length: 100 }, (_, c) => `cache-bound-${r}-${c}`), data });
      assert.equal((await fetch(`${server.httpUrl}${signedPath('POST', `/apps/${APP.id}/events`, body)}`, { method: 'POST', body })).status, 200);
    };
    // 72,000 channels of about 1 KB: over the bound by some 8 MB.
    for (let r = 0; r < 720; r += 20) await Promise.all(Array.from({ length: 20 }, (_, i) => trigger(r + i)));
    const peer = await RawPusher.connect(server);
    peer.send({ event: 'pusher:subscribe', data: { channel: 'cache-bound-0-0' } });
    await peer.next((f) => f['event'] === 'pusher:cache_miss' && f['channel'] === 'cache-bound-0-0');
    peer.send({ event: 'pusher:subscribe', data: { channel: 'cache-bound-719-99' } });
    assert.deepEqual(await peer.next((f) => f['event'] === 'fill'), { event: 'fill', channel: 'cache-bound-719-99', data });
    peer.close();
  });
});

describe('client events', () => {
  async function pair(key: string = APP.key, app: { key: string; secret: string } = APP, channel = 'private-room'): Promise<[RawPusher & { socketId: string }, RawPusher & { socketId: string }]> {
    const peers = await Promise.all([RawPusher.connect(server, key), RawPusher.connect(server, key)]);
    for (const peer of peers) {
      const data = channel.startsWith('presence-') ? JSON.stringify({ user_id: `u-${peer.socketId}` }) : undefined;
      peer.send({ event: 'pusher:subscribe', data: { channel, auth: channelAuth(peer.socketId, channel, data, app), ...(data ? { channel_data: data } : {}) } });
      await peer.next((f) => f['event'] === 'pusher_internal:subscription_succeeded');
    }
    return peers;
  }

  test('relayed to the other subscribers as sent, never echoed; presence channels add user_id', async () => {
    const [a, b] = await pair();
    a.send({ event: 'client-typing', channel: 'private-room', data: { who: 'a' } });
    assert.deepEqual(await b.next((f) => f['event'] === 'client-typing'), { event: 'client-typing', channel: 'private-room', data: { who: 'a' } });
    await a.barrier();
    assert.ok(!a.frames.some((f) => f['event'] === 'client-typing'), 'not echoed to the sender');
    const [c, d] = await pair(APP.key, APP, 'presence-lounge');
    c.send({ event: 'client-wave', channel: 'presence-lounge', data: {} });
    assert.deepEqual(await d.next((f) => f['event'] === 'client-wave'), { event: 'client-wave', channel: 'presence-lounge', data: {}, user_id: `u-${c.socketId}` });
    for (const peer of [a, b, c, d]) peer.close();
  });

  test('refused with pusher:error and not relayed: public channel, encrypted channel, not subscribed, over the size limit, app with client events off', async () => {
    const [a, b] = await pair();
    const refusedFor = async (sender: RawPusher, frame: Record<string, unknown>): Promise<number | null> => {
      sender.send(frame);
      return (await errorOf(sender)).code;
    };
    a.send({ event: 'pusher:subscribe', data: { channel: 'lobby' } });
    b.send({ event: 'pusher:subscribe', data: { channel: 'lobby' } });
    await a.barrier();
    await b.barrier();
    assert.equal(await refusedFor(a, { event: 'client-x', channel: 'lobby', data: {} }), 4009);
    assert.equal(await refusedFor(a, { event: 'client-x', channel: 'private-encrypted-x', data: {} }), 4009);
    assert.equal(await refusedFor(a, { event: 'client-x', channel: 'private-elsewhere', data: {} }), 4009);
    assert.equal(await refusedFor(a, { event: 'client-x', channel: 'private-room', data: 'x'.repeat(1100) }), 4009);
    const [q1] = await pair(QUIET.key, QUIET);
    assert.equal(await refusedFor(q1, { event: 'client-x', channel: 'private-room', data: {} }), 4009);
    await b.barrier();
    assert.ok(!b.frames.some((f) => f['event'] === 'client-x'), 'nothing refused was relayed');
    for (const peer of [a, b, q1]) peer.close();
  });

  test('a client sending at exactly the default rate, 10 a second for 30 s on a schedule that catches up after any pause, is never refused', async () => {
    const [a, b] = await pair(STEADY.key, STEADY);
    const start = performance.now();
    for (let i = 0; i < 300; i++) {
      const due = start + i * 100 - performance.now();
      if (due > 0) await new Promise((resolve) => setTimeout(resolve, due));
      a.send({ event: 'client-steady', channel: 'private-room', data: { i } });
    }
    await a.barrier();
    assert.deepEqual(a.frames.filter((f) => f['event'] === 'pusher:error'), []);
    for (let i = 0; i < 300; i++) await b.next((f) => f['event'] === 'client-steady');
    a.close();
    b.close();
  });

  test('past maxChannelsPerConnection a subscribe gets subscription_error 429 until the connection leaves one', async () => {
    const raw = await RawPusher.connect(server, STEADY.key);
    for (let i = 0; i < 5; i++) raw.send({ event: 'pusher:subscribe', data: { channel: `many-${i}` } });
    for (let i = 0; i < 5; i++) await raw.next((f) => f['event'] === 'pusher_internal:subscription_succeeded');
    raw.send({ event: 'pusher:subscribe', data: { channel: 'many-5' } });
    const refused = await raw.next((f) => f['event'] === 'pusher:subscription_error');
    assert.equal(refused['channel'], 'many-5');
    assert.deepEqual({ ...(refused['data'] as object), error: '' }, { type: 'LimitReached', error: '', status: 429 });
    assert.match((refused['data'] as { error: string }).error, /maxChannelsPerConnection/);
    raw.send({ event: 'pusher:unsubscribe', data: { channel: 'many-0' } });
    raw.send({ event: 'pusher:subscribe', data: { channel: 'many-5' } });
    assert.equal((await raw.next((f) => f['event'] === 'pusher_internal:subscription_succeeded'))['channel'], 'many-5');
    raw.close();
  });

  test('past the app\'s client event rate: pusher:error 4301 and not relayed', async () => {
    const [a, b] = await pair();
    // The bucket holds three seconds' worth (15 at 5/s): 30 at once go past it.
    for (let i = 0; i < 30; i++) a.send({ event: 'client-burst', channel: 'private-room', data: { i } });
    assert.equal((await errorOf(a)).code, 4301);
    await a.barrier();
    // Every refusal was answered before the pong; the rest reach b, maybe through the other worker.
    const refused = a.frames.filter((f) => f['event'] === 'pusher:error');
    assert.ok(refused.every((f) => (f['data'] as { code: number }).code === 4301));
    for (let i = 0; i < 30 - refused.length; i++) await b.next((f) => f['event'] === 'client-burst');
    await b.barrier();
    const relayed = b.frames.filter((f) => f['event'] === 'client-burst').map((f) => (f['data'] as { i: number }).i);
    assert.equal(relayed.length + refused.length, 30);
    assert.ok(relayed.length >= 15 && relayed.length < 30, `relayed ${relayed.length}`);
    assert.deepEqual(relayed, [...relayed].sort((x, y) => x - y), 'relayed in the order sent');
    a.close();
    b.close();
  });
});

describe('user authentication', () => {
  test('a signin with a bad signature gets pusher:error 4009 and close 4009', async () => {
    const raw = await RawPusher.connect(server);
    raw.send({ event: 'pusher:signin', data: { auth: 'app-key:00', user_data: '{"id":"u-1"}' } });
    assert.equal((await errorOf(raw)).code, 4009);
    assert.equal(await raw.closed, 4009);
  });
});

describe('hostile frames', () => {
  test('malformed frames get pusher:error and the connection stays open; no worker goes down', async () => {
    const raw = await RawPusher.connect(server);
    for (const frame of ['not json', '[]', '{}', '{"event":7}', '{"event":"pusher:subscribe"}', '{"event":"pusher:subscribe","data":"{"}', '{"event":"pusher:subscribe","data":{"channel":7}}', '{"event":"pusher:unknown"}', `{"event":"x","data":${'['.repeat(100)}${']'.repeat(100)}}`, '{"event":"client-x"}']) {
      raw.send(frame);
      const answer = await raw.next((f) => f['event'] === 'pusher:error');
      assert.equal(typeof (answer['data'] as { message: string }).message, 'string', frame);
    }
    await raw.barrier();
    assert.equal(raw.closeCode, undefined);
    raw.close();
    await assertSameProcesses(server, pids);
  });
});

describe('HTTP API', () => {
  const events = `/apps/${APP.id}/events`;
  const body = JSON.stringify({ name: 'e', channel: 'c', data: '{}' });
  const post = (path: string, payload: string = body) => fetch(`${server.httpUrl}${path}`, { method: 'POST', body: payload, headers: { 'content-type': 'application/json' } });

  test('a signed trigger answers 200 {}', async () => {
    const response = await post(signedPath('POST', events, body));
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), {});
  });

  test('unsigned, wrong key, wrong secret, stale timestamp and a body_md5 mismatch are 401 with the reason', async () => {
    const cases: [string, string][] = [
      [events, 'unsigned'],
      [signedPath('POST', events, body, { app: { key: 'other', secret: APP.secret } }), 'wrong key'],
      [signedPath('POST', events, body, { app: { key: APP.key, secret: 'wrong' } }), 'wrong secret'],
      [signedPath('POST', events, body, { timestamp: Math.floor(Date.now() / 1000) - 601 }), 'stale'],
      [signedPath('POST', events, body, { md5: '0'.repeat(32) }), 'md5'],
    ];
    for (const [path, what] of cases) {
      const response = await post(path);
      assert.equal(response.status, 401, what);
      assert.equal(typeof ((await response.json()) as { error: string }).error, 'string');
    }
  });

  test('unknown app 404, disabled app 403, and no secret in the logs', async () => {
    assert.equal((await post(signedPath('POST', '/apps/nope/events', body))).status, 404);
    assert.equal((await post(signedPath('POST', `/apps/${OFF.id}/events`, body, { app: OFF }))).status, 403);
    const output = server.rawOutput.join('\n');
    for (const secret of [APP.secret, OFF.secret, QUOTA.secret, QUIET.secret]) assert.ok(!output.includes(secret), 'an app secret reached the logs');
  });

  test('malformed bodies, missing fields, bad names, too many channels and big batches are 400; data over the limit 413', async () => {
    const cases: [string, number][] = [
      ['not json', 400],
      [JSON.stringify({ channel: 'c', data: '{}' }), 400],
      [JSON.stringify({ name: 'e', data: '{}' }), 400],
      [JSON.stringify({ name: 'e', channel: 'c', data: { not: 'a string' } }), 400],
      [JSON.stringify({ name: 'x'.repeat(201), channel: 'c', data: '{}' }), 400],
      [JSON.stringify({ name: 'e', channel: 'bad name', data: '{}' }), 400],
      [JSON.stringify({ name: 'e', channels: Array.from({ length: 101 }, (_, i) => `c${i}`), data: '{}' }), 400],
      [JSON.stringify({ name: 'e', channel: 'c', data: '{}', socket_id: 'nope' }), 400],
      [JSON.stringify({ name: 'e', channel: 'c', data: 'x'.repeat(1025) }), 413],
    ];
    for (const [payload, status] of cases) assert.equal((await post(signedPath('POST', events, payload), payload)).status, status, payload.slice(0, 80));
    const batch = JSON.stringify({ batch: Array.from({ length: 11 }, () => ({ name: 'e', channel: 'c', data: '{}' })) });
    assert.equal((await post(signedPath('POST', `/apps/${APP.id}/batch_events`, batch), batch)).status, 400);
    const get = (path: string, params: Record<string, string>) => fetch(`${server.httpUrl}${signedPath('GET', path, '', { params })}`);
    assert.equal((await get(`/apps/${APP.id}/channels`, { info: 'user_count' })).status, 400);
    assert.equal((await get(`/apps/${APP.id}/channels/private-a/users`, {})).status, 400);
  });

  test('CORS preflights are answered', async () => {
    const response = await fetch(`${server.httpUrl}/apps/${APP.id}/events`, { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' } });
    assert.equal(response.status, 204);
    assert.equal(response.headers.get('access-control-allow-origin'), '*');
    assert.match(response.headers.get('access-control-allow-methods') ?? '', /POST/);
  });
});
