import assert from 'node:assert/strict';
import type { RunningServer } from './server.js';

export interface WorkerHealthReport {
  id: number;
  pid: number;
  connections: number;
  rss: number;
  framesReceived: number;
  framesPublished: number;
  slowConsumersClosed: number;
  slowConsumersDropping: number;
  ackPending: number;
  ackGivenUp: number;
  ackOverflowClosed: number;
  ipcQueuedBytes: number;
  ipcRefused: number;
  pusherConnections: number;
}

/** The part of GET /health these tests read. */
export interface HealthReport {
  status: string;
  connections: number;
  channels: number;
  /** Primary plus every worker, in bytes; workers report theirs about once a second. */
  rss: number;
  workers: WorkerHealthReport[];
  temporaryTokens: number;
  /** The task pool: its threads, tasks waiting, tasks done since start. */
  tasks: { threads: number; queued: number; completed: number };
  /** The worker that answered this request. */
  worker: number;
}

export async function fetchHealth(server: RunningServer): Promise<HealthReport> {
  const response = await fetch(`${server.httpUrl}${server.healthPath}`);
  assert.equal(response.status, 200);
  return (await response.json()) as HealthReport;
}

/**
 * Polls /health until `ready` holds. Only for state that has no event a client can await:
 * the primary's registry learns of opens and closes asynchronously, and workers report
 * memory on a timer. Bounded in time; on timeout it fails with the last report.
 */
export async function awaitHealth(server: RunningServer, ready: (h: HealthReport) => boolean, what: string, timeoutMs = 15_000): Promise<HealthReport> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    const h = await fetchHealth(server);
    if (ready(h)) return h;
    assert.ok(Date.now() < deadline, `${what}: not reached within ${timeoutMs} ms (${attempt + 1} polls); last /health: ${JSON.stringify(h)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The process ids that must survive a hostile run: the primary and every worker. */
export interface ProcessIds {
  primary: number;
  workers: number[];
}

export async function processIds(server: RunningServer, workers: number): Promise<ProcessIds> {
  const h = await awaitHealth(server, (r) => r.workers.length === workers && r.workers.every((w) => w.pid > 0), `${workers} workers up`);
  assert.ok(server.process.pid, 'the primary has a pid');
  return { primary: server.process.pid, workers: h.workers.map((w) => w.pid).sort((a, b) => a - b) };
}

/** Whether a process exists (signal 0 checks without touching it). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Fails unless the primary and the very same worker processes are running: a worker that
 * crashed and was restarted by the supervisor has a new pid, so it shows here.
 */
export async function assertSameProcesses(server: RunningServer, before: ProcessIds): Promise<void> {
  assert.equal(server.process.exitCode, null, `the primary exited: ${server.rawOutput.slice(-20).join('\n')}`);
  assert.equal(server.process.signalCode, null, 'the primary was killed by a signal');
  assert.ok(alive(before.primary), 'the primary process is alive');
  const now = await fetchHealth(server);
  assert.deepEqual(now.workers.map((w) => w.pid).sort((a, b) => a - b), before.workers, 'the same worker processes serve (none exited or restarted)');
  for (const pid of before.workers) assert.ok(alive(pid), `worker ${pid} is alive`);
  // Level 50 is pino's error: a failed action, an uncaught exception, a worker death.
  const trouble = server.logs.filter((l) => Number(l['level']) >= 50 || /worker (exited|died|restarted)|restarting worker/.test(String(l['msg'])));
  assert.deepEqual(trouble, [], 'no error, worker exit or restart was logged');
}

/**
 * Opens sockets with `open` until each of `wanted` (worker ids, one per socket) is filled,
 * learning from /health which worker took each one; sockets that land where none is
 * wanted any more are closed. Needs to be the only one opening sockets meanwhile.
 */
export async function placeOnWorkers<S>(
  server: RunningServer,
  wanted: number[],
  open: () => Promise<S>,
  close: (socket: S) => Promise<void>,
): Promise<S[]> {
  const placed: (S | undefined)[] = wanted.map(() => undefined);
  let counts = await fetchHealth(server);
  for (let attempt = 0; placed.includes(undefined); attempt++) {
    assert.ok(attempt < 40 + wanted.length * 20, `the kernel never spread connections over workers ${JSON.stringify(wanted)}`);
    const socket = await open();
    const expected = counts.connections + 1;
    const after = await awaitHealth(server, (h) => h.connections === expected, `the server counts ${expected} sockets`);
    const grown = after.workers.filter((w) => w.connections > (counts.workers.find((b) => b.id === w.id)?.connections ?? 0));
    assert.equal(grown.length, 1, `exactly one worker took the socket: ${JSON.stringify({ counts, after })}`);
    const slot = wanted.findIndex((id, i) => placed[i] === undefined && id === grown[0]!.id);
    if (slot >= 0) {
      placed[slot] = socket;
      counts = after;
    } else {
      await close(socket);
      counts = await awaitHealth(server, (h) => h.connections === expected - 1, `the server counts ${expected - 1} sockets`);
    }
  }
  return placed as S[];
}
