import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test, type TestContext } from 'node:test';
import { BroadcastScript } from './helpers/broadcast-script.js';
import { Fleet, PinnedHttp, TOPOLOGIES, attemptHandshake, envelope, framesSince, sharedServer, uniqueChannel } from './helpers/conformance.js';
import type { FrameClient } from './helpers/frame-client.js';

const TOKEN = 'srv-token-8c41f0a9d2e7';
const EXPIRING_TOKEN = 'srv-token-expiring-51ab37';
const TTL_S = 1;

/** POST /conveyor/auth on `http`'s worker; returns the temporary token. */
async function mint(http: PinnedHttp, token: string, body: unknown): Promise<string> {
  const answer = await http.json('POST', `/conveyor/auth?token=${encodeURIComponent(token)}`, body);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const { auth } = answer.body as { auth: unknown };
  assert.deepEqual(Object.keys(answer.body as object), ['auth']);
  assert.ok(typeof auth === 'string' && auth.length > 0 && auth !== token, `temporary token ${String(auth)}`);
  return auth;
}

/** Sends a frame and returns everything the sender got up to a barrier after it. */
async function answersTo(client: FrameClient, frame: Record<string, unknown>): Promise<string[]> {
  const mark = client.frames.length;
  client.send(frame);
  await client.barrier('answered');
  return framesSince(client, mark).slice(0, -1);
}

for (const topology of TOPOLOGIES) {
  describe(`server token, ${topology.label}`, () => {
    const server = sharedServer([...topology.flags, '--token', TOKEN]);
    const withToken = { query: `token=${TOKEN}` };
    const fleetOf = (t: TestContext): Fleet => new Fleet(server(), topology, t);
    const pinned = (t: TestContext): PinnedHttp => {
      const http = new PinnedHttp(server());
      t.after(() => http.close());
      return http;
    };

    test(`a handshake without ?token= or with a wrong one is refused with HTTP 401; with the token it is accepted [${topology.label}]`, async (t) => {
      for (const query of ['', '?token=', '?token=wrong', `?token=${TOKEN.toUpperCase()}`, `?token=${TOKEN}x`, `?tokens=${TOKEN}`]) {
        const refused = await attemptHandshake(`${server().url}/${query}`);
        assert.equal(refused.status, 401, `handshake with "${query}"`);
      }
      const fleet = fleetOf(t);
      const client = await fleet.connect(withToken);
      assert.equal(client.frames[0], envelope('connection-info', JSON.stringify({ fd: client.fd, event: 'connection-info' })));
    });

    test(`channel-connect and fanout-action without auth, with a null or a wrong auth get PHP's error frames to the sender only; with the token they work [${topology.label}]`, async (t) => {
      const fleet = fleetOf(t);
      const clients = await fleet.spread(3, withToken);
      const [client, member, lobby] = clients as [FrameClient, FrameClient, FrameClient];
      const script = new BroadcastScript(clients, { fanoutFields: { auth: TOKEN } });
      const room = uniqueChannel('secured');
      await script.join(member, room, { auth: TOKEN });
      const missingAuth = envelope('channel-connect', 'Channel connection must specify "auth" when authentication is set!', client.fd);
      const failed = envelope('channel-connect', 'Failed to connect to channel', client.fd);
      assert.deepEqual(await answersTo(client, { action: 'channel-connect', channel: room }), [missingAuth]);
      assert.deepEqual(await answersTo(client, { action: 'channel-connect', channel: room, auth: null }), [missingAuth]);
      assert.deepEqual(await answersTo(client, { action: 'channel-connect', channel: room, auth: 'wrong' }), [failed]);
      assert.deepEqual(await answersTo(client, { action: 'channel-connect', channel: room, auth: '' }), [failed]);
      assert.deepEqual(await answersTo(client, { action: 'fanout-action', data: 'x' }), [envelope('fanout-action', 'FanoutAction must specify "auth" when authentication is set!', client.fd)]);
      assert.deepEqual(await answersTo(client, { action: 'fanout-action', data: 'x', auth: null }), [envelope('fanout-action', 'FanoutAction must specify "auth" when authentication is set!', client.fd)]);
      assert.deepEqual(await answersTo(client, { action: 'fanout-action', data: 'x', auth: 'wrong' }), [envelope('fanout-action', 'Failed to broadcast fanout', client.fd)]);
      script.resync(client);
      // None of the refused frames joined or fanned out: the client is still channel-less and the others heard nothing.
      await script.broadcast(member, 'members only');
      await script.broadcast(lobby, 'channel-less only');
      await script.join(client, room, { auth: TOKEN });
      await script.broadcast(member, 'now a member');
      await script.broadcast(client, 'fanout with the token');
      script.verify();
    });

    test(`POST /conveyor/auth and /conveyor/message without or with a wrong token answer 401 {"error":"Unauthorized!"} [${topology.label}]`, async (t) => {
      const http = pinned(t);
      for (const path of ['/conveyor/auth', '/conveyor/message']) {
        for (const query of ['', '?token=', '?token=wrong']) {
          const answer = await http.json('POST', `${path}${query}`, { channel: 'orders.1', message: 'hi' });
          assert.deepEqual(answer, { status: 401, body: { error: 'Unauthorized!' } }, `${path}${query}`);
        }
      }
      assert.equal((await http.json('POST', `/conveyor/message?token=${TOKEN}`, { channel: uniqueChannel('empty'), message: 'hi' })).status, 404);
    });

    test(`a temporary token for a channel admits handshakes until the first channel-connect that presents it consumes it [${topology.label}]`, async (t) => {
      const fleet = fleetOf(t);
      const http = pinned(t);
      const room = uniqueChannel('orders');
      const temporary = await mint(http, TOKEN, { channel: room });
      const first = await fleet.connect({ query: `token=${temporary}` });
      const second = await fleet.connect({ query: `token=${temporary}` });
      const script = new BroadcastScript([first, second], { fanoutFields: { auth: TOKEN } });
      await script.join(first, room, { auth: temporary });
      script.resync(second);
      assert.deepEqual(await answersTo(second, { action: 'channel-connect', channel: room, auth: temporary }), [envelope('channel-connect', 'Failed to connect to channel', second.fd)]);
      assert.equal((await attemptHandshake(`${server().url}/?token=${temporary}`)).status, 401, 'spent token admits no handshake');
      script.resync(second);
      await script.broadcast(second, 'second is channel-less');
      await script.broadcast(first, 'first is in the channel');
      script.verify();
    });

    test(`a temporary token presented for another channel is refused, and spent by it [${topology.label}]`, async (t) => {
      const fleet = fleetOf(t);
      const http = pinned(t);
      const room = uniqueChannel('orders');
      const temporary = await mint(http, TOKEN, { channel: room });
      const client = await fleet.connect(withToken);
      const failed = [envelope('channel-connect', 'Failed to connect to channel', client.fd)];
      assert.deepEqual(await answersTo(client, { action: 'channel-connect', channel: uniqueChannel('elsewhere'), auth: temporary }), failed);
      assert.deepEqual(await answersTo(client, { action: 'channel-connect', channel: room, auth: temporary }), failed);
    });

    test(`a temporary token minted without a channel admits exactly one handshake [${topology.label}]`, async (t) => {
      const fleet = fleetOf(t);
      const http = pinned(t);
      for (const body of [{}, { channel: null }]) {
        const temporary = await mint(http, TOKEN, body);
        const client = await fleet.connect({ query: `token=${temporary}` });
        assert.equal(client.frames[0], envelope('connection-info', JSON.stringify({ fd: client.fd, event: 'connection-info' })));
        assert.equal((await attemptHandshake(`${server().url}/?token=${temporary}`)).status, 401, JSON.stringify(body));
      }
    });

    test(`temporary tokens minted on one worker are honoured on another, for the handshake and for channel-connect [${topology.label}]`, async (t) => {
      const fleet = fleetOf(t);
      const http = pinned(t);
      const mintedOn = await http.worker();
      const other = (await fleet.settled()).workers.map((w) => w.id).find((id) => id !== mintedOn) ?? mintedOn;
      if (topology.workers > 1) assert.notEqual(other, mintedOn);
      // A handshake lands where the kernel puts it: mint again until one lands on the other worker.
      let admitted: FrameClient | undefined;
      for (let attempt = 0; !admitted; attempt++) {
        assert.ok(attempt < 40, 'no handshake landed on the other worker');
        const temporary = await mint(http, TOKEN, {});
        const client = await fleet.connect({ query: `token=${temporary}` });
        if (fleet.workerOf(client) === other) admitted = client;
        else await fleet.close(client);
      }
      const room = uniqueChannel('cross');
      const temporary = await mint(http, TOKEN, { channel: room });
      assert.equal(await http.worker(), mintedOn, 'still minting on the same worker');
      const memberHere = await fleet.connect(withToken);
      const joiner = admitted;
      const script = new BroadcastScript([memberHere, joiner], { fanoutFields: { auth: TOKEN } });
      await script.join(memberHere, room, { auth: TOKEN });
      await script.join(joiner, room, { auth: temporary });
      await script.broadcast(joiner, 'joined with a token from the other worker');
      script.verify();
    });

    test(`POST /conveyor/message with the token reaches every member of the channel on every worker [${topology.label}]`, async (t) => {
      const fleet = fleetOf(t);
      const clients = await fleet.spread(3, withToken);
      const room = uniqueChannel('orders');
      for (const client of clients) assert.deepEqual(await answersTo(client, { action: 'channel-connect', channel: room, auth: TOKEN }), []);
      const marks = clients.map((c) => c.frames.length);
      const answer = await pinned(t).json('POST', `/conveyor/message?token=${TOKEN}`, { channel: room, message: 'order shipped' });
      assert.deepEqual(answer, { status: 200, body: { success: 'Message sent successfully!' } });
      for (const [i, client] of clients.entries()) {
        await client.next((f) => f.includes('order shipped'));
        assert.deepEqual(framesSince(client, marks[i]!), ['{"action":"broadcast-action","data":"order shipped"}']);
      }
    });

    test(`the server token and temporary tokens never appear in the server's output at --log-level debug [${topology.label}]`, async (t) => {
      const fleet = fleetOf(t);
      const http = pinned(t);
      const running = server();
      assert.equal((await attemptHandshake(`${running.url}/`)).status, 401);
      assert.equal((await attemptHandshake(`${running.url}/?token=not-${TOKEN}`)).status, 401);
      const client = await fleet.connect(withToken);
      const room = uniqueChannel('quiet');
      const temporary = await mint(http, TOKEN, { channel: room });
      const guest = await fleet.connect({ query: `token=${temporary}` });
      assert.deepEqual(await answersTo(client, { action: 'channel-connect', channel: room, auth: TOKEN }), []);
      assert.deepEqual(await answersTo(guest, { action: 'channel-connect', channel: room, auth: temporary }), []);
      assert.deepEqual(await answersTo(client, { action: 'channel-connect', channel: room, auth: `${TOKEN}-wrong` }), [envelope('channel-connect', 'Failed to connect to channel', client.fd)]);
      client.send({ action: 'fanout-action', data: 'loud', auth: TOKEN });
      await guest.next((f) => f.includes('"loud"'));
      assert.equal((await http.json('POST', `/conveyor/message?token=${TOKEN}`, { channel: room, message: 'm' })).status, 200);
      await fleet.closeAll();
      // The server did log these events, so the check below looked at real output.
      await running.waitForLog((l) => l['msg'] === 'handshake refused');
      await running.waitForLog((l) => l['msg'] === 'connection open' && l['fd'] === guest.fd);
      await running.waitForLog((l) => l['msg'] === 'connection closed' && l['fd'] === guest.fd);
      for (const secret of [TOKEN, temporary]) {
        const leaks = running.rawOutput.filter((line) => line.includes(secret));
        assert.deepEqual(leaks, [], `"${secret}" was printed`);
      }
    });
  });

  describe(`temporary token expiry, ${topology.label}`, () => {
    const server = sharedServer([...topology.flags, '--token', EXPIRING_TOKEN, '--temp-token-ttl', String(TTL_S)]);

    test(`temporary tokens expire after --temp-token-ttl, for the handshake and for channel-connect [${topology.label}]`, async (t) => {
      const fleet = new Fleet(server(), topology, t);
      const http = new PinnedHttp(server());
      t.after(() => http.close());
      const room = uniqueChannel('expiring');
      const forHandshake = await mint(http, EXPIRING_TOKEN, {});
      const forChannel = await mint(http, EXPIRING_TOKEN, { channel: room });
      const client = await fleet.connect({ query: `token=${EXPIRING_TOKEN}` });
      // Valid now: the channel token admits a handshake without being spent by it.
      const early = await fleet.connect({ query: `token=${forChannel}` });
      await fleet.close(early);
      // Expiry is the passing of time itself; no event marks it.
      await sleep(TTL_S * 1000 + 500);
      assert.equal((await attemptHandshake(`${server().url}/?token=${forHandshake}`)).status, 401);
      assert.equal((await attemptHandshake(`${server().url}/?token=${forChannel}`)).status, 401);
      assert.deepEqual(await answersTo(client, { action: 'channel-connect', channel: room, auth: forChannel }), [envelope('channel-connect', 'Failed to connect to channel', client.fd)]);
      // A token minted now works: only the old ones expired.
      const fresh = await mint(http, EXPIRING_TOKEN, {});
      await fleet.connect({ query: `token=${fresh}` });
    });
  });
}
