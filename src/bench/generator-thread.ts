import { parentPort, workerData } from 'node:worker_threads';
import { headerLength, writeHeader, encodeText } from './client-frames.js';
import { HTTP_PUBLISH_CONNECTIONS, HttpPublisher } from './http-publisher.js';
import { Opcode } from './frame-scanner.js';
import { LatencyHistogram } from './latency-histogram.js';
import { RateSchedule } from './rate-schedule.js';
import { RawConnection, type ConnectionEvents } from './raw-connection.js';
import { SequenceLedger } from './sequence-ledger.js';
import { monotonicMicros, restamp, StampReader, STAMP_MARK, writeStamp } from './stamp.js';
import type { MainToThread, ThreadCounters, ThreadPlan, ThreadToMain } from './thread-messages.js';
import { wireProtocol, type Envelope } from './wire-protocols.js';

/**
 * One generator thread: opens its share of the connections, sends on a schedule, and
 * measures what arrives. Stamped messages are read in place from the thread's one read
 * buffer; each costs a stamp parse, a histogram record and a sequence check.
 */

const plan = workerData as ThreadPlan;
const port = parentPort!;
const protocol = wireProtocol(plan.protocol, plan.path, plan.pusherApp, plan.action);
/** Shared by all sockets of this thread: reads run one at a time. */
const readBuffer = Buffer.allocUnsafe(256 * 1024);
const PROGRESS_MS = 250;
/** With --rate 0, a sender whose socket holds more than this is skipped until it drains. */
const WINDOWED_HIGH_WATER = 256 * 1024;
/** The same for an HTTP publisher: requests unanswered, a few per keep-alive connection. */
const HTTP_HIGH_WATER = 4 * HTTP_PUBLISH_CONNECTIONS;
/** Every thread's received count, for closed-loop senders (see ThreadPlan.deliveries). */
const sharedDeliveries = new Uint32Array(plan.deliveries);
const MAX_ERROR_SAMPLES = 5;

type Role = 'subscriber' | 'publisher' | 'echo' | 'idle';

interface Client {
  readonly id: number;
  readonly role: Role;
  /** Channel index, -1 for none. */
  readonly channel: number;
  readonly channelName: string | undefined;
  connection: RawConnection | undefined;
  ready: boolean;
  closed: boolean;
  ledger: SequenceLedger | undefined;
  /** Stamp sender index (publisher number, or the echo client's id). */
  sender: number;
  sequence: number;
  template: Buffer | undefined;
  attemptAt: number;
  /** Publishers of --action http: their requests go through this instead of a socket. */
  http: HttpPublisher | undefined;
  /** Ack frames owed for this read, written together after it (--ack). */
  acks: string[];
}

const counters: ThreadCounters = { open: 0, failed: 0, sent: 0, delivered: 0, deliveredInWindow: 0, gaps: 0, errors: 0, slept: 0 };
const errorSamples = new Set<string>();
const latency = new LatencyHistogram();
const handshakes = new LatencyHistogram();
const sendLag = new LatencyHistogram();
const reader = new StampReader();
let readNow = 0;
let windowEnd = Infinity;
let windowClosed = false;
/** Where the stamp sits in a message: the same for every message of one server, so found once. */
let markOffset = 0;
let firstAttempt = Infinity;
let lastReady = 0;
let finishing = false;

const post = (message: ThreadToMain): void => port.postMessage(message);
const now = (): number => monotonicMicros() - plan.epoch;

function noteError(reason: string): void {
  counters.errors++;
  if (errorSamples.size < MAX_ERROR_SAMPLES) errorSamples.add(reason);
}

function publishersIn(channel: number): number {
  return channel < plan.publishers ? Math.floor((plan.publishers - 1 - channel) / plan.channels) + 1 : 0;
}

function makeClient(id: number): Client {
  let role: Role;
  let channel = -1;
  let sender = -1;
  if (plan.scenario === 'fanout') {
    role = id < plan.connections ? 'subscriber' : 'publisher';
    sender = id - plan.connections;
    channel = role === 'subscriber' ? id % plan.channels : sender % plan.channels;
  } else if (plan.scenario === 'echo') {
    role = 'echo';
    sender = id;
  } else role = 'idle';
  const ledger =
    role === 'subscriber' ? new SequenceLedger(channel, plan.channels, publishersIn(channel)) : role === 'echo' ? new SequenceLedger(id, 1, 1) : undefined;
  return {
    id,
    role,
    channel,
    channelName: channel >= 0 ? `${plan.channelPrefix}-${channel}` : undefined,
    connection: undefined,
    ready: false,
    closed: false,
    ledger,
    sender,
    sequence: 0,
    template: undefined,
    attemptAt: 0,
    http: undefined,
    acks: [],
  };
}

const clients = plan.connectionIds.map(makeClient);
const senders = clients.filter((c) => c.role === 'publisher' || c.role === 'echo');

// ---- opening ----

let nextToOpen = 0;
let settled = 0;
let onAllSettled: () => void = () => {};

function openNext(): void {
  while (nextToOpen < clients.length && nextToOpen - settled < plan.concurrency) open(clients[nextToOpen++]!);
}

function settle(): void {
  settled++;
  if (settled === clients.length) onAllSettled();
  else openNext();
}

function open(client: Client): void {
  client.attemptAt = now();
  firstAttempt = Math.min(firstAttempt, client.attemptAt);
  if (client.role === 'publisher' && plan.action === 'http') {
    client.http = new HttpPublisher(plan.publisherEndpoint, plan.path, plan.protocol, client.channelName!, plan.payload, client.sender, plan.pusherApp, noteError);
    return becomeReady(client);
  }
  const events: ConnectionEvents = {
    beforeRead: onRead,
    afterRead: plan.ack
      ? () => {
          flushAcks(client);
          afterRead();
        }
      : afterRead,
    open: (connection) => {
      for (const frame of protocol.opening(client.channelName)) connection.write(encodeText(frame));
    },
    message: (_connection, opcode, payload, start, end) => onMessage(client, opcode, payload, start, end),
    closed: (_connection, reason) => onClosed(client, reason),
  };
  // With several --url (nodes of one server), subscribers spread over them.
  const endpoint = client.role === 'publisher' ? plan.publisherEndpoint : plan.endpoints[client.id % plan.endpoints.length]!;
  client.connection = new RawConnection(client.id, endpoint, protocol.path(client.channelName), protocol.subprotocol, readBuffer, events, plan.handshakeTimeoutMs);
}

function becomeReady(client: Client): void {
  client.ready = true;
  counters.open++;
  const at = now();
  handshakes.record(at - client.attemptAt);
  lastReady = Math.max(lastReady, at);
  settle();
}

function onClosed(client: Client, reason: string | undefined): void {
  if (client.closed) return;
  client.closed = true;
  if (!client.ready) {
    counters.failed++;
    noteError(reason ?? 'closed during set-up');
    settle();
    return;
  }
  counters.open--;
  if (reason !== undefined && !finishing) noteError(reason);
}

// ---- receiving ----

function onRead(): void {
  readNow = now();
  if (!windowClosed && readNow >= windowEnd) closeWindow();
}

/** After each read: publishes this thread's count for closed-loop senders. */
function afterRead(): void {
  Atomics.store(sharedDeliveries, plan.index, counters.delivered >>> 0);
}

function closeWindow(): void {
  windowClosed = true;
  counters.deliveredInWindow = counters.delivered;
}

/**
 * Wake-ups are what a receiver pays most for when a server writes one message per
 * syscall: woken per message, a thread spends its time waking. So while messages flow,
 * a receiving thread sleeps `pace` µs between event-loop passes (an immediate that
 * re-arms itself keeps the poll from blocking), and each pass then reads every socket
 * that got data meanwhile. The sleep adds at most `pace` µs to a measured latency.
 */
const sleeper = new Int32Array(new SharedArrayBuffer(4));
let pacing = false;

function pace(): void {
  if (!pacing) return;
  const before = monotonicMicros();
  Atomics.wait(sleeper, 0, 0, plan.pace / 1000);
  if (!windowClosed) counters.slept += monotonicMicros() - before;
  setImmediate(pace);
}

/** `"id":"` : where a frame's acknowledgment id starts (the server puts it last). */
const ID_KEY = Buffer.from('"id":"');

/** Queues the acknowledgment a frame with an id asks for; sent after the read (flushAcks). */
function owe(client: Client, payload: Buffer, start: number, end: number): void {
  const at = payload.lastIndexOf(ID_KEY, end - ID_KEY.length);
  if (at < start) return;
  const from = at + ID_KEY.length;
  const to = payload.indexOf(0x22, from);
  if (to < 0 || to >= end) return;
  client.acks.push(payload.toString('latin1', from, to));
}

/** One write of every acknowledgment a read owed. */
function flushAcks(client: Client): void {
  if (client.acks.length === 0 || client.closed) return;
  const frames = client.acks.map((id) => encodeText(`{"action":"acknowledge-action","data":"${id}"}`));
  client.acks.length = 0;
  client.connection!.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
}

function onMessage(client: Client, opcode: number, payload: Buffer, start: number, end: number): void {
  if (opcode !== Opcode.text) return;
  if (plan.ack) owe(client, payload, start, end);
  if (!client.ready) return setupMessage(client, payload.toString('utf8', start, end));
  let mark = start + markOffset;
  if (mark >= end || payload[mark] !== STAMP_MARK) {
    mark = payload.indexOf(STAMP_MARK, start);
    if (mark < 0 || mark >= end) return otherMessage(client, payload.toString('utf8', start, end));
    markOffset = mark - start;
  }
  if (!reader.read(payload, mark, end)) return otherMessage(client, payload.toString('utf8', start, end));
  const ledger = client.ledger;
  // A publisher hearing itself (a server with broadcast-self) is not a delivery the run asked for.
  if (!ledger) return;
  if (!ledger.accept(reader.sender, reader.sequence)) return;
  latency.record(readNow - reader.micros);
  counters.delivered++;
}

function setupMessage(client: Client, text: string): void {
  const step = protocol.setup(text, client.channelName);
  switch (step.kind) {
    case 'wait':
      return;
    case 'send':
      for (const frame of step.frames) client.connection!.write(encodeText(frame));
      return;
    case 'ready':
      return becomeReady(client);
    case 'failed':
      noteError(step.reason);
      client.connection!.destroy();
      return;
  }
}

function otherMessage(client: Client, text: string): void {
  const outcome = protocol.other(text);
  if (outcome?.reply) client.connection!.write(encodeText(outcome.reply));
  if (outcome?.error) noteError(outcome.error);
}

// ---- sending ----

function envelopeFor(client: Client): Envelope {
  const envelope = client.role === 'echo' ? protocol.echo : client.channelName === undefined ? undefined : protocol.publish(client.channelName);
  if (!envelope) throw new Error(`protocol ${plan.protocol} cannot send ${client.role} messages`);
  return envelope;
}

/** The whole frame of one message of `client`, stamped later in place. */
function templateFor(client: Client): { frame: Buffer; stampAt: number } {
  const { prefix, suffix } = envelopeFor(client);
  const payloadLength = Buffer.byteLength(prefix) + plan.payload + Buffer.byteLength(suffix);
  const frame = Buffer.allocUnsafe(headerLength(payloadLength) + payloadLength);
  let at = writeHeader(frame, 0, Opcode.text, payloadLength);
  at += frame.write(prefix, at, 'utf8');
  const stampAt = at;
  writeStamp(frame, stampAt, plan.payload, 0, client.sender, 0);
  frame.write(suffix, stampAt + plan.payload, 'utf8');
  return { frame, stampAt };
}

const templates = new Map<Client, { frame: Buffer; stampAt: number }>();

function sendBurst(client: Client, dueAt: number): void {
  if (client.http) {
    for (let i = 0; i < plan.batch; i++) client.http.publish(dueAt, client.sequence++);
    counters.sent += plan.batch;
    return;
  }
  let template = templates.get(client);
  if (!template) templates.set(client, (template = templateFor(client)));
  const { frame, stampAt } = template;
  const burst = Buffer.allocUnsafe(frame.length * plan.batch);
  for (let i = 0; i < plan.batch; i++) {
    const offset = i * frame.length;
    frame.copy(burst, offset);
    restamp(burst, offset + stampAt, dueAt, client.sequence++);
  }
  counters.sent += plan.batch;
  client.connection!.write(burst);
}

function runSchedule(start: number, end: number, done: () => void): void {
  const active = senders.filter((c) => c.ready && !c.closed);
  if (active.length === 0) return done();
  const schedule = new RateSchedule(plan.rate, plan.batch, start, end);
  const tick = (): void => {
    const at = now();
    schedule.release(at, (dueAt, index) => {
      const client = active[index % active.length]!;
      if (client.closed) return;
      sendLag.record(at - dueAt);
      sendBurst(client, dueAt);
    });
    if (schedule.done) return done();
    const wait = (schedule.nextDue() - now()) / 1000;
    if (wait <= 0) setImmediate(tick);
    else setTimeout(tick, wait);
  };
  setTimeout(tick, Math.max(0, (start - now()) / 1000));
}

/**
 * --rate 0, closed loop: senders send as fast as deliveries free the window. Receivers'
 * counts come through shared memory; checked once a millisecond (a timer, not a spin:
 * the cores are the server's).
 */
function runWindowed(start: number, end: number, receiversPerChannel: number[], done: () => void): void {
  const active = senders.filter((c) => c.ready && !c.closed);
  if (active.length === 0) return done();
  const receiversOf = (client: Client): number => (client.role === 'echo' ? 1 : receiversPerChannel[client.channel] ?? 0);
  const meanReceivers = active.reduce((n, c) => n + receiversOf(c), 0) / active.length;
  const limit = plan.window * meanReceivers;
  const seen = new Uint32Array(sharedDeliveries.length);
  let delivered = 0;
  let asked = 0;
  let next = 0;
  const readDelivered = (): void => {
    if (plan.scenario === 'echo') {
      delivered = counters.delivered;
      return;
    }
    for (let i = 0; i < seen.length; i++) {
      const value = Atomics.load(sharedDeliveries, i);
      // Counts wrap at 2^32; the difference modulo 2^32 is what arrived since the last look.
      delivered += (value - seen[i]!) >>> 0;
      seen[i] = value;
    }
  };
  const pump = (): void => {
    const at = now();
    if (at >= end) return done();
    readDelivered();
    for (let tries = 0; tries < active.length; ) {
      const client = active[next % active.length]!;
      const cost = plan.batch * receiversOf(client);
      if (asked + cost - delivered > limit) break;
      next++;
      if (client.closed || (client.http ? client.http.inFlight > HTTP_HIGH_WATER : client.connection!.queued > WINDOWED_HIGH_WATER)) {
        tries++;
        continue;
      }
      tries = 0;
      sendBurst(client, at);
      asked += cost;
    }
    setTimeout(pump, 1);
  };
  setTimeout(pump, Math.max(0, (start - now()) / 1000));
}

function sentPerChannel(): number[] {
  const sent = new Array<number>(plan.channels).fill(0);
  for (const client of senders) if (client.channel >= 0) sent[client.channel]! += client.sequence;
  return sent;
}

// ---- end of run ----

function channelMissing(ledger: SequenceLedger, sentInChannel: number): number {
  let reached = 0;
  for (let slot = 0; slot < ledger.senders; slot++) reached += ledger.reached(slot);
  return Math.max(0, sentInChannel - reached);
}

function finish(fanoutSent: number[]): void {
  finishing = true;
  pacing = false;
  if (!windowClosed) closeWindow();
  let timeouts = 0;
  let lostToClosed = 0;
  let late = 0;
  let repeated = 0;
  let foreign = 0;
  for (const client of clients) {
    const ledger = client.ledger;
    if (!ledger || !client.ready) continue;
    // An echo client knows what it sent itself; a fanout subscriber's senders are on the
    // publishers' thread, and per channel totals are enough: never arrived = sent − reached.
    const missing = client.role === 'echo' ? ledger.missing(() => client.sequence) : channelMissing(ledger, fanoutSent[client.channel] ?? 0);
    if (client.closed) lostToClosed += missing;
    else timeouts += missing;
    late += ledger.late;
    repeated += ledger.repeated;
    foreign += ledger.foreign;
  }
  counters.gaps = clients.reduce((sum, c) => sum + (c.ledger?.gaps ?? 0), 0);
  post({
    type: 'final',
    counters: { ...counters },
    latency: latency.encode(),
    timeouts,
    lostToClosed,
    late,
    repeated,
    foreign,
    errorSamples: [...errorSamples],
  });
  for (const client of clients) {
    client.connection?.destroy();
    client.http?.close();
  }
  setTimeout(() => process.exit(0), 50).unref();
}

function progress(): void {
  counters.gaps = clients.reduce((sum, c) => sum + (c.ledger?.gaps ?? 0), 0);
  post({ type: 'progress', counters: { ...counters } });
}

port.on('message', (message: MainToThread) => {
  try {
    switch (message.type) {
      case 'open':
        onAllSettled = () => {
          const perChannel = new Array<number>(plan.channels).fill(0);
          for (const c of clients) if (c.role === 'subscriber' && c.ready && !c.closed) perChannel[c.channel]!++;
          post({
            type: 'opened',
            counters: { ...counters },
            firstAttempt: Number.isFinite(firstAttempt) ? firstAttempt : 0,
            lastReady,
            handshakes: handshakes.encode(),
            errorSamples: [...errorSamples],
            subscribersPerChannel: perChannel,
          });
        };
        if (clients.length === 0) onAllSettled();
        else openNext();
        setInterval(progress, PROGRESS_MS).unref();
        return;
      case 'start': {
        windowEnd = message.end;
        if (plan.pace > 0 && clients.some((c) => c.ledger)) {
          pacing = true;
          setImmediate(pace);
        }
        setTimeout(() => {
          if (!windowClosed) closeWindow();
        }, Math.max(0, (message.end - now()) / 1000)).unref();
        if (senders.length === 0) return;
        const done = (): void => post({ type: 'sent', sentPerChannel: sentPerChannel(), sent: counters.sent, sendLag: sendLag.encode() });
        if (plan.rate > 0) runSchedule(message.start, message.end, done);
        else runWindowed(message.start, message.end, message.receiversPerChannel, done);
        return;
      }
      case 'finish':
        finish(message.sentPerChannel);
        return;
    }
  } catch (error) {
    post({ type: 'fatal', message: (error as Error).stack ?? String(error) });
  }
});
