/** The part of a WebSocket the client uses: the browser's and `ws` both have it. */
export interface ClientSocket {
  readonly readyState: number;
  binaryType: string;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export const OPEN = 1;

/** What differs between Node and browsers: how to connect, and how to notice a dead link. */
export interface Platform {
  connect(url: string, subprotocol: string, headers: Record<string, string> | undefined): ClientSocket;
  /**
   * Starts watching the link; calls `dead` when it stopped carrying traffic. Returns the
   * function that stops watching.
   */
  heartbeat(socket: ClientSocket, intervalMs: number, pongTimeoutMs: number, dead: () => void): () => void;
  /** Drops a dead link at once, so that its close (and the reconnect) follows. */
  kill(socket: ClientSocket): void;
}

/** Runs `fn` every `ms` without keeping a Node process alive for it. */
export function backgroundInterval(fn: () => void, ms: number): ReturnType<typeof setInterval> {
  const timer = setInterval(fn, ms);
  (timer as { unref?: () => void }).unref?.();
  return timer;
}
