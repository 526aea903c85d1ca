import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { BenchOptionError, benchUrls, connectionCount, validateOptions, type BenchOptions } from './bench-options.js';
import { LatencyHistogram, type LatencySummary } from './latency-histogram.js';
import { defaultHealthUrl, growth, readServerRss } from './server-memory.js';
import { monotonicMicros } from './stamp.js';
import { openFileProblem } from './system-limits.js';
import type { MainToThread, ThreadCounters, ThreadPlan, ThreadToMain } from './thread-messages.js';
import { parsePusherApp } from './wire-protocols.js';

/** A thread whose event loop was busy more than this share of the window was the bottleneck. */
const SATURATED_ELU = 0.9;
/** Lets every thread receive `start` before the first burst is due. */
const START_DELAY_US = 300_000;
/** An idle server's memory settles (allocations, GC) before it is read. */
const MEMORY_SETTLE_MS = 1500;

/** The run could not measure anything (no connection opened, say); the message says why. */
export class BenchRunError extends Error {
  override readonly name = 'BenchRunError';
}

export interface ThreadUsage {
  role: 'publishers' | 'receivers' | 'connections';
  connections: number;
  /** Share of the window the thread's event loop was busy (1 = a whole core). */
  busy: number;
}

export interface BenchResult {
  scenario: BenchOptions['scenario'];
  options: BenchOptions;
  connections: { requested: number; open: number; failed: number };
  handshakes: { perSecond: number; latency: LatencySummary | undefined };
  /** Messages sent: publishes (fanout) or requests (echo). */
  sent: number;
  /** Deliveries the run asked for: each message × the receivers it should reach. */
  expected: number;
  delivered: number;
  deliveredInWindow: number;
  /** Skipped in a sender's sequence: the server dropped them. */
  lost: number;
  /** Never arrived on connections the server closed. */
  lostToClosed: number;
  /** Still missing when the wait after sending ran out. */
  timeouts: number;
  late: number;
  /** Arrived again: re-sends of a server with acknowledgments, not counted as delivered. */
  repeated: number;
  foreign: number;
  errors: number;
  errorSamples: string[];
  /** Seconds of sending (the window the rates are over). */
  window: number;
  sentPerSecond: number;
  deliveredPerSecond: number;
  /** What the schedule asked for in deliveries per second (0 with --rate 0). */
  offeredPerSecond: number;
  latency: LatencySummary | undefined;
  /** How late the generator sent its bursts: part of the latency that is the generator's own. */
  sendLag: LatencySummary | undefined;
  /** RSS in bytes; per connection, each process's growth (none below zero) over the open connections. */
  memory: { before: number; afterOpen: number; end: number; perConnection: number } | undefined;
  generator: { threads: ThreadUsage[]; cores: number; saturated: boolean };
}

export interface ProgressSnapshot {
  phase: 'opening' | 'sending' | 'waiting' | 'holding';
  /** Seconds since the phase began. */
  elapsed: number;
  /** Planned seconds of the phase (0 when open-ended). */
  planned: number;
  open: number;
  failed: number;
  sent: number;
  delivered: number;
  errors: number;
  /** Over the last second. */
  sentPerSecond: number;
  deliveredPerSecond: number;
}

export interface RunHooks {
  onProgress?(snapshot: ProgressSnapshot): void;
  /** The measured window (sending, holding or opening) begins and ends: for outside probes such as the server's CPU. */
  onWindow?(edge: 'start' | 'end'): void;
  /** The opening of every connection (the handshake storm) begins and ends, in every scenario. */
  onOpening?(edge: 'start' | 'end'): void;
}

interface ThreadHandle {
  worker: Worker;
  plan: ThreadPlan;
  role: ThreadUsage['role'];
  counters: ThreadCounters;
  waiters: Map<ThreadToMain['type'], (message: ThreadToMain) => void>;
  failure: Promise<never>;
}

const emptyCounters = (): ThreadCounters => ({ open: 0, failed: 0, sent: 0, delivered: 0, deliveredInWindow: 0, gaps: 0, errors: 0, slept: 0 });

function sum(handles: ThreadHandle[], key: keyof ThreadCounters): number {
  return handles.reduce((total, h) => total + h.counters[key], 0);
}

/** Splits connection ids over threads round-robin, so channels spread evenly too. */
function share(ids: number[], threads: number): number[][] {
  const parts = Array.from({ length: Math.min(threads, Math.max(1, ids.length)) }, () => [] as number[]);
  ids.forEach((id, i) => parts[i % parts.length]!.push(id));
  return parts;
}

function plans(options: BenchOptions, epoch: number): { plan: ThreadPlan; role: ThreadUsage['role'] }[] {
  const urls = benchUrls(options.url).map((u) => new URL(u));
  const url = urls[0]!;
  const endpointOf = (u: URL): { host: string; port: number } => ({ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 80) });
  const endpoints = urls.map(endpointOf);
  const publisherEndpoint = options.publisherUrl === undefined ? endpoints[0]! : endpointOf(new URL(options.publisherUrl));
  const ids = Array.from({ length: options.connections }, (_, i) => i);
  const receivers = share(ids, options.threads);
  const withPublishers = options.scenario === 'fanout';
  const threadCount = receivers.length + (withPublishers ? 1 : 0);
  const deliveries = new SharedArrayBuffer(4 * threadCount);
  const base = {
    deliveries,
    scenario: options.scenario,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port || 80),
    endpoints,
    publisherEndpoint,
    path: `${url.pathname}${url.search}`,
    protocol: options.protocol,
    pusherApp: options.pusherApp === undefined ? undefined : parsePusherApp(options.pusherApp),
    action: options.action,
    ack: options.ack,
    epoch,
    connections: options.connections,
    publishers: options.publishers,
    channels: options.channels,
    channelPrefix: options.channelPrefix,
    batch: options.batch,
    payload: options.payload,
    concurrency: Math.max(1, Math.ceil(options.concurrency / threadCount)),
    pace: options.pace,
    handshakeTimeoutMs: options.handshakeTimeout * 1000,
  };
  const result = receivers.map((connectionIds, index) => ({
    plan: {
      ...base,
      index,
      connectionIds,
      ...(options.scenario === 'echo'
        ? { rate: (options.rate * connectionIds.length) / options.connections, window: Math.max(options.batch, Math.round((options.window * connectionIds.length) / options.connections)) }
        : { rate: 0, window: 0 }),
    },
    role: (options.scenario === 'fanout' || options.scenario === 'echo' ? 'receivers' : 'connections') as ThreadUsage['role'],
  }));
  if (withPublishers) {
    // Publishers get a thread of their own: a receiving thread's busy loop would make their sends late.
    const connectionIds = Array.from({ length: options.publishers }, (_, p) => options.connections + p);
    result.push({ plan: { ...base, index: result.length, connectionIds, rate: options.rate, window: options.window }, role: 'publishers' });
  }
  return result;
}

function spawn(plan: ThreadPlan, role: ThreadUsage['role']): ThreadHandle {
  const worker = new Worker(new URL('./generator-thread.js', import.meta.url), { workerData: plan });
  const handle: ThreadHandle = { worker, plan, role, counters: emptyCounters(), waiters: new Map(), failure: undefined as unknown as Promise<never> };
  handle.failure = new Promise<never>((_, reject) => {
    worker.on('error', (error) => reject(new Error(`generator thread ${plan.index} failed: ${error.message}`)));
    worker.on('exit', (code) => {
      if (handle.waiters.size > 0) reject(new Error(`generator thread ${plan.index} exited (${code}) in the middle of the run`));
    });
    worker.on('message', (message: ThreadToMain) => {
      if (message.type === 'fatal') return reject(new Error(`generator thread ${plan.index} failed: ${message.message}`));
      if ('counters' in message) handle.counters = message.counters;
      const waiter = handle.waiters.get(message.type);
      if (waiter) {
        handle.waiters.delete(message.type);
        waiter(message);
      }
    });
  });
  handle.failure.catch(() => {});
  return handle;
}

function expect<T extends ThreadToMain['type']>(handle: ThreadHandle, type: T): Promise<Extract<ThreadToMain, { type: T }>> {
  const message = new Promise<Extract<ThreadToMain, { type: T }>>((resolve) =>
    handle.waiters.set(type, resolve as (message: ThreadToMain) => void),
  );
  return Promise.race([message, handle.failure]);
}

function send(handle: ThreadHandle, message: MainToThread): void {
  handle.worker.postMessage(message);
}

/** Calls `onProgress` once a second with rates over the last second, until stopped. */
function progressTicker(handles: ThreadHandle[], hooks: RunHooks, phase: ProgressSnapshot['phase'], planned: number): () => void {
  if (!hooks.onProgress) return () => {};
  const began = Date.now();
  let last = { at: began, sent: sum(handles, 'sent'), delivered: sum(handles, 'delivered') };
  const timer = setInterval(() => {
    const at = Date.now();
    const sent = sum(handles, 'sent');
    const delivered = sum(handles, 'delivered');
    const seconds = Math.max(0.001, (at - last.at) / 1000);
    hooks.onProgress!({
      phase,
      elapsed: (at - began) / 1000,
      planned,
      open: sum(handles, 'open'),
      failed: sum(handles, 'failed'),
      sent,
      delivered,
      errors: sum(handles, 'errors'),
      sentPerSecond: (sent - last.sent) / seconds,
      deliveredPerSecond: (delivered - last.delivered) / seconds,
    });
    last = { at, sent, delivered };
  }, 1000);
  return () => clearInterval(timer);
}

/** Starts measuring the generator's own load; the returned function reads it. */
function usageSince(handles: ThreadHandle[]): () => BenchResult['generator'] {
  const cpuBefore = process.cpuUsage();
  const elu = new Map<ThreadHandle, EventLoopUtilization>(handles.map((h) => [h, h.worker.performance.eventLoopUtilization()]));
  const sleptBefore = new Map<ThreadHandle, number>(handles.map((h) => [h, h.counters.slept]));
  const wallBefore = monotonicMicros();
  return () => {
    const wall = monotonicMicros() - wallBefore;
    const cpu = process.cpuUsage(cpuBefore);
    const threads = handles.map((h) => {
      const { active, idle } = h.worker.performance.eventLoopUtilization(elu.get(h));
      // Pacing sleeps block the loop, so the utilization counts them; they are not work.
      const work = Math.max(0, active - (h.counters.slept - (sleptBefore.get(h) ?? 0)) / 1000);
      return { role: h.role, connections: h.plan.connectionIds.length, busy: Math.round((work / Math.max(1, active + idle)) * 1000) / 1000 };
    });
    return {
      threads,
      cores: Math.round(((cpu.user + cpu.system) / Math.max(1, wall)) * 100) / 100,
      saturated: threads.some((t) => t.busy >= SATURATED_ELU),
    };
  };
}

/**
 * Runs one scenario against a server and measures it. Generator threads do the sockets;
 * this thread only coordinates the phases (open, send, wait, collect) and adds up.
 */
export async function runBench(input: BenchOptions, hooks: RunHooks = {}): Promise<BenchResult> {
  const options = validateOptions({ ...input });
  const fileProblem = openFileProblem(connectionCount(options));
  if (fileProblem) throw new BenchOptionError(fileProblem);
  const healthUrl = options.healthUrl ?? defaultHealthUrl(benchUrls(options.url)[0]!);
  const epoch = monotonicMicros();
  const handles = plans(options, epoch).map(({ plan, role }) => spawn(plan, role));
  try {
    return await run(options, handles, healthUrl, epoch, hooks);
  } finally {
    await Promise.all(handles.map((h) => h.worker.terminate()));
  }
}

async function run(options: BenchOptions, handles: ThreadHandle[], healthUrl: string, epoch: number, hooks: RunHooks): Promise<BenchResult> {
  const { scenario } = options;
  const rssBefore = scenario === 'idle' ? await readServerRss(healthUrl) : undefined;

  // ---- open every connection ----
  const sinceOpening = usageSince(handles);
  if (scenario === 'connect') hooks.onWindow?.('start');
  hooks.onOpening?.('start');
  let stop = progressTicker(handles, hooks, 'opening', 0);
  const openedAll = handles.map((h) => expect(h, 'opened'));
  handles.forEach((h) => send(h, { type: 'open' }));
  const opened = await Promise.all(openedAll);
  stop();
  hooks.onOpening?.('end');
  if (scenario === 'connect') hooks.onWindow?.('end');
  const handshakes = new LatencyHistogram();
  for (const o of opened) handshakes.addEncoded(o.handshakes);
  const open = opened.reduce((n, o) => n + o.counters.open, 0);
  const failed = opened.reduce((n, o) => n + o.counters.failed, 0);
  const firstAttempt = Math.min(...opened.filter((o) => o.counters.open + o.counters.failed > 0).map((o) => o.firstAttempt));
  const lastReady = Math.max(0, ...opened.map((o) => o.lastReady));
  const stormSeconds = (lastReady - firstAttempt) / 1e6;
  if (open === 0) {
    const seen = [...new Set(opened.flatMap((o) => o.errorSamples))].slice(0, 3).join('; ');
    throw new BenchRunError(`no connection to ${options.url} could be set up (${failed} failed: ${seen || 'no reason given'}). Is the server running there, and does it speak --protocol ${options.protocol}?`);
  }
  const subscribersPerChannel = new Array<number>(options.channels).fill(0);
  for (const o of opened) o.subscribersPerChannel.forEach((n, c) => (subscribersPerChannel[c]! += n));
  const publishersOpen = handles.filter((h) => h.role === 'publishers').reduce((n, h) => n + h.counters.open, 0);
  if (scenario === 'fanout' && publishersOpen === 0) {
    const seen = [...new Set(opened.flatMap((o) => o.errorSamples))].slice(0, 3).join('; ');
    throw new BenchRunError(`no publisher could connect to ${options.url} (${seen || 'no reason given'}); the server may be overloaded or refusing connections.`);
  }

  // The connect scenario's work is the opening itself; the others count from the first send or the hold.
  let measureUsage = scenario === 'connect' ? sinceOpening : usageSince(handles);
  let memory: BenchResult['memory'];
  let window = 0;
  let sent = 0;
  let expected = 0;
  let sendLag: LatencySummary | undefined;
  /** Measured over the window that counts: sending, or holding the connections. */
  let generator: BenchResult['generator'] | undefined;

  if (scenario === 'idle') {
    await delay(MEMORY_SETTLE_MS);
    const afterOpen = await readServerRss(healthUrl);
    stop = progressTicker(handles, hooks, 'holding', options.duration);
    measureUsage = usageSince(handles);
    hooks.onWindow?.('start');
    await delay(options.duration * 1000);
    hooks.onWindow?.('end');
    stop();
    generator = measureUsage();
    const end = await readServerRss(healthUrl);
    window = options.duration;
    if (rssBefore !== undefined && afterOpen !== undefined && end !== undefined) {
      memory = { before: rssBefore.rss, afterOpen: afterOpen.rss, end: end.rss, perConnection: open > 0 ? Math.round(growth(rssBefore, end) / open) : 0 };
    }
  } else if (scenario === 'fanout' || scenario === 'echo') {
    const start = monotonicMicros() - epoch + START_DELAY_US;
    const end = start + options.duration * 1e6;
    window = options.duration;
    const senders = handles.filter((h) => (scenario === 'fanout' ? h.role === 'publishers' : h.plan.connectionIds.length > 0));
    const sentReports = senders.map((h) => expect(h, 'sent'));
    handles.forEach((h) => send(h, { type: 'start', start, end, receiversPerChannel: subscribersPerChannel }));
    stop = progressTicker(handles, hooks, 'sending', options.duration);
    void delay(Math.max(0, (start - (monotonicMicros() - epoch)) / 1000)).then(() => {
      measureUsage = usageSince(handles);
      hooks.onWindow?.('start');
    });
    const windowOver = delay((end - (monotonicMicros() - epoch)) / 1000).then(() => {
      hooks.onWindow?.('end');
      generator = measureUsage();
    });
    const reports = await Promise.all(sentReports);
    await windowOver;
    stop();
    const sentPerChannel = new Array<number>(options.channels).fill(0);
    const lag = new LatencyHistogram();
    for (const r of reports) {
      r.sentPerChannel.forEach((n, c) => (sentPerChannel[c]! += n));
      sent += r.sent;
      lag.addEncoded(r.sendLag);
    }
    sendLag = lag.summary();
    expected = scenario === 'fanout' ? subscribersPerChannel.reduce((total, subs, c) => total + subs * sentPerChannel[c]!, 0) : sent;
    // Wait for stragglers: until every expected message is accounted for, or the timeout.
    stop = progressTicker(handles, hooks, 'waiting', options.timeout);
    const deadline = Date.now() + options.timeout * 1000;
    while (Date.now() < deadline && sum(handles, 'delivered') + sum(handles, 'gaps') < expected) await delay(50);
    stop();
    handles.forEach((h) => send(h, { type: 'finish', sentPerChannel }));
  }
  generator ??= measureUsage();

  if (scenario !== 'fanout' && scenario !== 'echo') handles.forEach((h) => send(h, { type: 'finish', sentPerChannel: [] }));
  const finals = await Promise.all(handles.map((h) => expect(h, 'final')));
  const latency = new LatencyHistogram();
  for (const f of finals) latency.addEncoded(f.latency);
  const total = (key: keyof ThreadCounters): number => finals.reduce((n, f) => n + f.counters[key], 0);
  const delivered = total('delivered');
  const deliveredInWindow = total('deliveredInWindow');
  const recipients = scenario === 'fanout' ? options.connections / options.channels : 1;
  const errorSamples = [...new Set([...opened.flatMap((o) => o.errorSamples), ...finals.flatMap((f) => f.errorSamples)])].slice(0, 8);

  return {
    scenario,
    options,
    connections: { requested: connectionCount(options), open, failed },
    handshakes: { perSecond: stormSeconds > 0 ? Math.round(open / stormSeconds) : 0, latency: handshakes.summary() },
    sent,
    expected,
    delivered,
    deliveredInWindow,
    lost: total('gaps'),
    lostToClosed: finals.reduce((n, f) => n + f.lostToClosed, 0),
    timeouts: finals.reduce((n, f) => n + f.timeouts, 0),
    late: finals.reduce((n, f) => n + f.late, 0),
    repeated: finals.reduce((n, f) => n + f.repeated, 0),
    foreign: finals.reduce((n, f) => n + f.foreign, 0),
    errors: total('errors'),
    errorSamples,
    window,
    sentPerSecond: window > 0 ? Math.round(sent / window) : 0,
    deliveredPerSecond: window > 0 ? Math.round(deliveredInWindow / window) : 0,
    offeredPerSecond: Math.round(options.rate * recipients),
    latency: latency.summary(),
    sendLag,
    memory,
    generator,
  };
}
