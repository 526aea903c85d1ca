/**
 * Reconnect delays: exponential backoff with full jitter (a uniform pick between 0 and
 * the capped exponential), so that thousands of clients dropped by one server restart
 * do not all come back in the same instant.
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
