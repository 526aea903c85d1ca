import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { startNode, type RunningServer } from './server.js';

const EMBED_SERVER = fileURLToPath(new URL('./embed-server.js', import.meta.url));

/** A plain WebSocket client of an embedded app: every message kept, awaited by predicate. */
export class Plain {
  readonly messages: string[] = [];
  readonly closed: Promise<number>;
  private waiter: (() => void) | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      this.messages.push(isBinary ? `bin:${(data as Buffer).toString('hex')}` : data.toString());
      this.waiter?.();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
    ws.on('error', () => {});
  }

  static async open(url: string, headers: Record<string, string> = {}): Promise<Plain> {
    const ws = new WebSocket(url, { headers });
    const client = new Plain(ws);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    return client;
  }

  async until(match: (message: string) => boolean, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (let seen = 0; ; ) {
      for (; seen < this.messages.length; seen++) if (match(this.messages[seen]!)) return this.messages[seen]!;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching message within ${timeoutMs} ms: ${JSON.stringify(this.messages).slice(0, 1000)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}


/** The embedding test server (helpers/embed-server.ts) with these createServer options. */
export async function embedServer(t: TestContext, flags: Record<string, unknown> = {}): Promise<RunningServer> {
  return startNode([EMBED_SERVER], t, { CONVEYOR_TEST_EMBED_SERVER: '1', CONVEYOR_TEST_FLAGS: JSON.stringify(flags) });
}
