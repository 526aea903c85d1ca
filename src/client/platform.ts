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
export const CLOSED = 3;

/** What one connection attempt needs. */
export interface ConnectRequest {
  url: string;
  subprotocol: string | undefined;
  headers: Record<string, string> | undefined;
  /** A token goes with the handshake: the usual reason for a refusal. */
  hasToken: boolean;
}

/**
 * What differs between Node and browsers: how to connect, how to notice a dead link, and
 * how to tell a refused handshake from a server that is down.
 */
export interface Platform {
  connect(request: ConnectRequest): ClientSocket;
  /**
   * Starts watching the link; calls `dead` when it stopped carrying traffic. Returns the
   * function that stops watching.
   */
  heartbeat(socket: ClientSocket, intervalMs: number, pongTimeoutMs: number, dead: () => void): () => void;
  /** Drops a dead link at once, so that its close (and the reconnect) follows. */
  kill(socket: ClientSocket): void;
  /**
   * After a handshake failed: resolves with why the server refused it (a spent or wrong
   * token, a forbidden origin), or undefined when it may just be down or unreachable.
   * `error` is the last error the socket reported.
   */
  refusal(request: ConnectRequest, error: Error | undefined): Promise<string | undefined>;
}

/** Runs `fn` every `ms` without keeping a Node process alive for it. */
export function backgroundInterval(fn: () => void, ms: number): ReturnType<typeof setInterval> {
  const timer = setInterval(fn, ms);
  (timer as { unref?: () => void }).unref?.();
  return timer;
}

/** A timeout that does not keep a Node process alive either. */
export function backgroundTimeout(fn: () => void, ms: number): ReturnType<typeof setTimeout> {
  const timer = setTimeout(fn, ms);
  (timer as { unref?: () => void }).unref?.();
  return timer;
}
