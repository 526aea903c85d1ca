import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_APP_SETTINGS, type PusherApp } from '../src/apps/apps.js';
import { createLogger } from '../src/log.js';
import type { Hub, Recovery, Session } from '../src/protocol/native/hub.js';
import { NativeProtocol, type NativeSession } from '../src/protocol/native/protocol.js';
import { PusherProtocol, type PusherHub, type PusherSession } from '../src/protocol/pusher/protocol.js';
import { hmacHex } from '../src/tokens.js';
import type { PresenceMember, PusherJoinResult } from '../src/registry/engine.js';
import { channelTopic, pusherTopic } from '../src/topics.js';

/**
 * The protocol cores without a server: frames in, calls on their hub out. The hubs here
 * record what they are asked and answer as the test says; the cores never see a socket.
 */

const log = createLogger('silent');

/** A promise and the function that settles it. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  return { promise: new Promise<T>((r) => (resolve = r)), resolve };
}

class FakeNativeHub implements Hub {
  readonly options = { token: undefined, broadcastSelf: false, ack: false };
  readonly sent: string[] = [];
  readonly published: { topic: string; frame: string; except: number | undefined }[] = [];
  readonly joins: { channel: string; recovery: Recovery | undefined }[] = [];
  /** What the next join waits for, when a test holds it. */
  joinGate: Promise<void> | undefined;
  refusePublish = false;

  newAckId(): string | undefined {
    return undefined;
  }
  send(_session: Session, frame: string): void {
    this.sent.push(frame);
  }
  publish(topic: string, frame: string, options: { except?: Session } = {}): boolean {
    if (this.refusePublish) return false;
    this.published.push({ topic, frame, except: options.except?.fd });
    return true;
  }
  async join(session: Session, channel: string, recovery?: Recovery): Promise<void> {
    this.joins.push({ channel, recovery });
    await this.joinGate;
    session.channel = channel;
  }
  async leave(session: Session): Promise<void> {
    session.channel = null;
  }
  async assoc(session: Session, userId: string | number): Promise<void> {
    session.userId = userId;
  }
  async consumeToken(): Promise<boolean> {
    return false;
  }
  fanout(): string | undefined {
    return undefined;
  }
  acknowledge(): void {}
}

function nativeSession(fd = 7): NativeSession {
  return { fd, channel: null, userId: undefined, busy: false, backlog: undefined, backlogBytes: 0 };
}

/** Resolves once the protocol has run what it had pending (its promise chain). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('the native protocol core', () => {
  test('open sends connection-info with the fd; plain text is echoed as a base-action', () => {
    const hub = new FakeNativeHub();
    const protocol = new NativeProtocol(hub, log);
    const session = nativeSession();
    protocol.open(session);
    assert.deepEqual(JSON.parse(hub.sent[0]!), { action: 'connection-info', data: JSON.stringify({ fd: 7, event: 'connection-info' }) });
    protocol.message(session, 'hello', false);
    assert.deepEqual(JSON.parse(hub.sent[1]!), { action: 'base-action', data: 'hello', fd: 7 });
  });

  test('channel-connect asks the hub to join, with recovery when since is given; a broadcast goes to the channel, the sender left out', async () => {
    const hub = new FakeNativeHub();
    const protocol = new NativeProtocol(hub, log);
    const session = nativeSession();
    protocol.message(session, JSON.stringify({ action: 'channel-connect', channel: 'room', since: 4, epoch: 'e1' }), false);
    await settle();
    assert.deepEqual(hub.joins, [{ channel: 'room', recovery: { since: 4, epoch: 'e1' } }]);
    protocol.message(session, JSON.stringify({ action: 'broadcast-action', data: 'hi' }), false);
    assert.equal(hub.published.length, 1);
    assert.equal(hub.published[0]!.topic, channelTopic('room'));
    assert.equal(hub.published[0]!.except, 7);
    assert.deepEqual(JSON.parse(hub.published[0]!.frame), { action: 'broadcast-action', data: 'hi', fd: 7 });
  });

  test("a socket's frames run in order: a broadcast sent while its join waits goes to the new channel after it", async () => {
    const hub = new FakeNativeHub();
    const protocol = new NativeProtocol(hub, log);
    const session = nativeSession();
    const gate = deferred<void>();
    hub.joinGate = gate.promise;
    protocol.message(session, JSON.stringify({ action: 'channel-connect', channel: 'room' }), false);
    protocol.message(session, JSON.stringify({ action: 'broadcast-action', data: 'after the join' }), false);
    assert.equal(hub.published.length, 0, 'nothing is published while the join waits');
    gate.resolve();
    await settle();
    assert.deepEqual(
      hub.published.map((p) => p.topic),
      [channelTopic('room')],
    );
  });

  test('bad frames get error frames and reach no hub call', () => {
    const hub = new FakeNativeHub();
    const protocol = new NativeProtocol(hub, log);
    const session = nativeSession();
    for (const frame of ['[1,2]', '{"data":1}', '{"action":5}', '{"action":"no-such-action"}', `${'['.repeat(40)}${']'.repeat(40)}`]) protocol.message(session, frame, false);
    const answers = hub.sent.map((f) => JSON.parse(f) as { action: string; data: string });
    assert.deepEqual(
      answers.map((a) => a.action),
      ['error', 'error', 'error', 'error', 'error'],
    );
    assert.match(answers[3]!.data, /no-such-action/);
    assert.equal(hub.joins.length + hub.published.length, 0);
  });

  test('a publication refused for load is answered with the busy error, to the sender alone', () => {
    const hub = new FakeNativeHub();
    hub.refusePublish = true;
    const protocol = new NativeProtocol(hub, log);
    protocol.message(nativeSession(), JSON.stringify({ action: 'broadcast-action', data: 'x' }), false);
    const answer = JSON.parse(hub.sent[0]!) as { action: string; data: string };
    assert.equal(answer.action, 'error');
    assert.match(answer.data, /busy|again/i);
  });
});

const APP: PusherApp = { ...DEFAULT_APP_SETTINGS, id: 'app1', key: 'key1', secret: 'secret1', clientEvents: true };

class FakePusherHub implements PusherHub {
  readonly sent: string[] = [];
  readonly topics = new Set<string>();
  readonly joins: { channel: string; member: PresenceMember | undefined }[] = [];
  readonly leaves: string[] = [];
  readonly published: { topic: string; frame: string }[] = [];
  readonly closed: number[] = [];
  answer: PusherJoinResult = { ok: true };

  send(_session: PusherSession, frame: string): void {
    this.sent.push(frame);
  }
  disconnect(_session: PusherSession, code: number): void {
    this.closed.push(code);
  }
  subscribe(_session: PusherSession, topic: string): void {
    this.topics.add(topic);
  }
  unsubscribe(_session: PusherSession, topic: string): void {
    this.topics.delete(topic);
  }
  publish(_session: PusherSession, topic: string, frame: string): boolean {
    this.published.push({ topic, frame });
    return true;
  }
  async join(_session: PusherSession, channel: string, member: PresenceMember | undefined): Promise<PusherJoinResult> {
    this.joins.push({ channel, member });
    return this.answer;
  }
  async leave(_session: PusherSession, channel: string): Promise<void> {
    this.leaves.push(channel);
  }
  async signin(): Promise<void> {}
  remember(): void {}
  clientEventHook(): void {}

  events(): { event: string; channel?: string; data?: unknown }[] {
    return this.sent.map((f) => JSON.parse(f) as { event: string; channel?: string; data?: unknown });
  }
}

function pusherSession(): PusherSession {
  return { fd: 3, socketSecret: 12345, app: APP, channels: undefined, joining: undefined, user: undefined, clientEvents: undefined };
}

const sign = (data: string): string => `${APP.key}:${hmacHex(APP.secret, data)}`;

describe('the Pusher protocol core', () => {
  test('a public subscribe joins and is answered subscription_succeeded; an unsubscribe leaves', async () => {
    const hub = new FakePusherHub();
    const protocol = new PusherProtocol(hub, log, 32);
    const session = pusherSession();
    protocol.message(session, JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'news' } }));
    await settle();
    assert.deepEqual(hub.joins, [{ channel: 'news', member: undefined }]);
    assert.ok(hub.topics.has(pusherTopic('app1', 'news')));
    assert.deepEqual(hub.events().at(-1), { event: 'pusher_internal:subscription_succeeded', channel: 'news', data: '{}' });
    protocol.message(session, JSON.stringify({ event: 'pusher:unsubscribe', data: { channel: 'news' } }));
    await settle();
    assert.deepEqual(hub.leaves, ['news']);
    assert.equal(hub.topics.size, 0);
  });

  test('a presence subscribe with a valid signature joins as its member and gets the roster the hub answered', async () => {
    const hub = new FakePusherHub();
    hub.answer = { ok: true, roster: { key: 'k', json: '{"count":1,"ids":["u1"],"hash":{"u1":null}}' } };
    const protocol = new PusherProtocol(hub, log, 32);
    const session = pusherSession();
    const channelData = JSON.stringify({ user_id: 'u1' });
    protocol.message(session, JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'presence-room', channel_data: channelData, auth: sign(`3.12345:presence-room:${channelData}`) } }));
    await settle();
    assert.deepEqual(hub.joins, [{ channel: 'presence-room', member: { id: 'u1', info: null } }]);
    const answer = hub.events().at(-1)!;
    assert.equal(answer.event, 'pusher_internal:subscription_succeeded');
    assert.deepEqual(JSON.parse(answer.data as string), { presence: { count: 1, ids: ['u1'], hash: { u1: null } } });
  });

  test('a private subscribe with a wrong signature never reaches the hub: subscription_error 401', async () => {
    const hub = new FakePusherHub();
    const protocol = new PusherProtocol(hub, log, 32);
    protocol.message(pusherSession(), JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'private-x', auth: `${APP.key}:bad` } }));
    await settle();
    assert.equal(hub.joins.length, 0);
    const answer = hub.events().at(-1)!;
    assert.equal(answer.event, 'pusher:subscription_error');
    assert.equal((answer.data as { status: number }).status, 401);
  });

  test('a full presence channel is refused 403 and its topic left', async () => {
    const hub = new FakePusherHub();
    hub.answer = { ok: false, reason: 'full' };
    const protocol = new PusherProtocol(hub, log, 32);
    const channelData = JSON.stringify({ user_id: 'u2' });
    protocol.message(pusherSession(), JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'presence-room', channel_data: channelData, auth: sign(`3.12345:presence-room:${channelData}`) } }));
    await settle();
    assert.equal(hub.topics.size, 0);
    assert.equal((hub.events().at(-1)!.data as { status: number }).status, 403);
  });

  test('client events go to a subscribed private channel; a ping is answered pong, a frame that is not JSON an error', async () => {
    const hub = new FakePusherHub();
    const protocol = new PusherProtocol(hub, log, 32);
    const session = pusherSession();
    protocol.message(session, JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'private-chat', auth: sign('3.12345:private-chat') } }));
    await settle();
    protocol.message(session, JSON.stringify({ event: 'client-typing', channel: 'private-chat', data: { on: true } }));
    assert.deepEqual(
      hub.published.map((p) => p.topic),
      [pusherTopic('app1', 'private-chat')],
    );
    protocol.message(session, JSON.stringify({ event: 'pusher:ping', data: {} }));
    assert.equal(hub.events().at(-1)!.event, 'pusher:pong');
    protocol.message(session, 'not json');
    assert.equal(hub.events().at(-1)!.event, 'pusher:error');
  });
});
