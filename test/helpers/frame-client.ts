import WebSocket from 'ws';
import { Inbox } from './inbox.js';

/** A test WebSocket that records every text frame and lets a test await the next match. */
export class FrameClient {
  private readonly inbox = new Inbox<string>((frames) => FrameClient.recent(frames));
  /** Every text frame received, in order. */
  readonly frames: string[] = this.inbox.items;
  fd = 0;
  closeCode: number | undefined;
  readonly closed: Promise<number>;
  /**
   * When true, every pushed frame that carries an `id` is answered with `acknowledge-action`
   * as soon as it arrives, as a client with acknowledgments on does.
   */
  acknowledges = false;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const frame = data.toString();
      if (this.acknowledges) this.acknowledge(frame);
      this.inbox.push(frame);
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code) => {
        this.closeCode = code;
        this.inbox.end(`socket closed (${code})`);
        resolve(code);
      }),
    );
  }

  /**
   * Connects and waits for connection-info, whose fd it keeps. `protocol` is the requested
   * subprotocol (an empty list requests none).
   */
  static async connect(url: string, protocol: string | string[] = 'socketconveyor.com', options: { acknowledges?: boolean; headers?: Record<string, string> } = {}): Promise<FrameClient> {
    const ws = new WebSocket(url, protocol, options.headers ? { headers: options.headers } : {});
    const client = new FrameClient(ws);
    // Set before the first frame arrives, so that connection-info is acknowledged too.
    client.acknowledges = options.acknowledges ?? false;
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`handshake refused with HTTP ${res.statusCode}`)));
    });
    const info = JSON.parse(await client.next((f) => f.includes('"connection-info"'))) as { data: string };
    client.fd = (JSON.parse(info.data) as { fd: number }).fd;
    return client;
  }

  /** Connects with extra handshake headers (a proxy's X-Forwarded-For, a cookie). */
  static connectWith(url: string, headers: Record<string, string>): Promise<FrameClient> {
    return FrameClient.connect(url, 'socketconveyor.com', { headers });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The next frame after the last one returned that matches, waiting up to `timeoutMs`. */
  next(match: (frame: string) => boolean = () => true, timeoutMs = 5000): Promise<string> {
    return this.inbox.next(match, timeoutMs);
  }

  /** The frames received, for a failure message: the last 40, each cut to 300 characters. */
  private static recent(frames: readonly string[]): string {
    const shown = frames.slice(-40).map((f) => (f.length > 300 ? `${f.slice(0, 300)}… (${f.length} characters)` : f));
    return (frames.length > 40 ? [`… ${frames.length - 40} earlier frames`, ...shown] : shown).join('\n');
  }

  /** Sends a base-action and waits for its echo: every frame sent before it has been handled. */
  async barrier(tag = `barrier-${Math.random()}`): Promise<void> {
    this.send({ action: 'base-action', data: tag });
    await this.next((f) => f.includes(JSON.stringify(tag)) && f.includes('"base-action"'));
  }

  private acknowledge(frame: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(frame);
    } catch {
      return;
    }
    if (typeof parsed !== 'object' || parsed === null) return;
    const { action, id } = parsed as { action?: unknown; id?: unknown };
    if (typeof id === 'string' && action !== 'acknowledge-action') this.send({ action: 'acknowledge-action', data: id });
  }

  close(): void {
    this.ws.close();
  }
}
