import type { TestContext } from 'node:test';
import { ControlConversation, RssWatch } from './attack.js';
import { FrameClient } from './frame-client.js';
import { fetchHealth, placeOnWorkers, processIds, type ProcessIds } from './server-health.js';
import { startServer, type RunningServer } from './server.js';

/** A server under attack: its processes, a control conversation beside the attack, and a watch on every process's memory. */
export interface Arena {
  server: RunningServer;
  pids: ProcessIds;
  control: ControlConversation;
  watch: RssWatch;
}

/** Closes a client and waits until it is closed (for placeOnWorkers' spare clients). */
export async function closeClient(client: FrameClient): Promise<void> {
  client.close();
  await client.closed;
}

/**
 * A server with `workers` workers, a control conversation (talker on the first worker,
 * listener on the last: it crosses workers when there are two) and a watch on every
 * process's memory, started before the attack.
 */
export async function arena(t: TestContext, flags: string[], workers: number, options: { acknowledges?: boolean } = {}): Promise<Arena> {
  const server = await startServer(['--workers', String(workers), ...flags], t);
  const pids = await processIds(server, workers);
  const ids = (await fetchHealth(server)).workers.map((w) => w.id).sort((a, b) => a - b);
  const [talker, listener] = await placeOnWorkers(server, [ids[0]!, ids.at(-1)!], () => FrameClient.connect(server.url, 'socketconveyor.com', options), closeClient);
  t.after(() => [talker, listener].forEach((c) => c!.close()));
  const control = await ControlConversation.between(talker!, listener!, `control.${process.pid}.${Date.now()}`);
  t.after(() => control.stop());
  const watch = new RssWatch({ primary: pids.primary, ...Object.fromEntries(pids.workers.map((pid, i) => [`worker${i + 1}`, pid])) });
  t.after(() => watch.stop());
  return { server, pids, control, watch };
}
