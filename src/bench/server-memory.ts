/** A server's resident memory: in all, and per process where it says (Conveyor: the primary, then each worker by id). */
export interface ServerMemory {
  rss: number;
  processes: number[];
}

/**
 * The server's resident memory as it reports it: GET on a health URL answering JSON with
 * `rss` in bytes (Conveyor's /health sums the primary and its workers, and lists each
 * worker's; the comparison's baselines answer `rss` alone). Undefined when the server does not say.
 */
export async function readServerRss(healthUrl: string, timeoutMs = 5000): Promise<ServerMemory | undefined> {
  try {
    const response = await fetch(healthUrl, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) return undefined;
    const body = (await response.json()) as { rss?: unknown; workers?: { id?: unknown; rss?: unknown }[] };
    if (typeof body.rss !== 'number') return undefined;
    const workers = Array.isArray(body.workers) && body.workers.every((w) => typeof w.rss === 'number' && typeof w.id === 'number') ? [...body.workers].sort((a, b) => (a.id as number) - (b.id as number)).map((w) => w.rss as number) : [];
    const primary = body.rss - workers.reduce((sum, rss) => sum + rss, 0);
    return { rss: body.rss, processes: [primary, ...workers] };
  } catch {
    return undefined;
  }
}

/**
 * What the server grew by between two readings: each process's growth, none counted below
 * zero. A process that hands back memory it held before the run (a fresh primary freeing
 * its start-up garbage: up to 20 MB, over a kilobyte per connection at 15,000) would
 * otherwise hide what the others grew by.
 */
export function growth(before: ServerMemory, after: ServerMemory): number {
  if (before.processes.length !== after.processes.length) return after.rss - before.rss;
  return after.processes.reduce((sum, rss, i) => sum + Math.max(0, rss - before.processes[i]!), 0);
}

/** The health URL of the server behind a ws:// URL: same host and port, path /health. */
export function defaultHealthUrl(wsUrl: string): string {
  const url = new URL(wsUrl);
  return `http://${url.host}/health`;
}
