/**
 * Decides whether a browser's Origin may open a WebSocket. `allowed` is the
 * --allowed-origins list: `*`, or comma-separated origins such as https://app.example.com.
 * A handshake without an Origin header is not from a browser page, so it is not a
 * cross-site risk, and is allowed.
 */
export function originChecker(allowed: string): (origin: string | undefined) => boolean {
  const list = allowed
    .split(',')
    .map((o) => o.trim().replace(/\/+$/, '').toLowerCase())
    .filter((o) => o !== '');
  if (list.length === 0 || list.includes('*')) return () => true;
  const set = new Set(list);
  return (origin) => origin === undefined || origin === '' || set.has(origin.replace(/\/+$/, '').toLowerCase());
}
