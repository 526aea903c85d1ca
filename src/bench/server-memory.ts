/**
 * The server's resident memory as it reports it: GET on a health URL answering JSON with
 * `rss` in bytes (Conveyor's /health sums the primary and its workers; the comparison's
 * baselines answer the same shape). Undefined when the server does not say.
 */
export async function readServerRss(healthUrl: string, timeoutMs = 5000): Promise<number | undefined> {
  try {
    const response = await fetch(healthUrl, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) return undefined;
    const body = (await response.json()) as { rss?: unknown };
    return typeof body.rss === 'number' ? body.rss : undefined;
  } catch {
    return undefined;
  }
}

/** The health URL of the server behind a ws:// URL: same host and port, path /health. */
export function defaultHealthUrl(wsUrl: string): string {
  const url = new URL(wsUrl);
  return `http://${url.host}/health`;
}
