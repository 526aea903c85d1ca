import WebSocket from 'ws';

export interface RecoveryData {
  channel: string;
  epoch: string;
  seq: number;
  recovered: boolean;
  replayed: number;
}

/**
 * A socket for crowds: it keeps no frame, only what a replay must prove. Every numbered frame's
 * seq is checked to follow the one before (from the first it is sent), and the
 * `channel-recovery` frames are kept. Hundreds of these hold a replay each without the test
 * process holding hundreds of MB.
 */
export class ReplayReader {
  readonly recoveries: RecoveryData[] = [];
  /** Numbered frames received. */
  count = 0;
  last = 0;
  /** The first frame whose seq did not follow the one before, if any. */
  disorder: string | undefined;
  errors: string[] = [];
  private waiter: { count: number; resolve: () => void } | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const text = data.toString();
      const seq = /"seq":(\d+)[,}]/.exec(text.slice(-64));
      if (text.startsWith('{"action":"channel-recovery"')) this.recoveries.push((JSON.parse(text) as { data: RecoveryData }).data);
      else if (text.startsWith('{"action":"error"')) this.errors.push(text);
      else if (seq) {
        const n = Number(seq[1]);
        if (this.count > 0 && n !== this.last + 1) this.disorder ??= `seq ${n} after ${this.last}`;
        this.last = n;
        this.count++;
        if (this.waiter && this.count >= this.waiter.count) this.waiter.resolve();
      }
    });
  }

  static async connect(url: string): Promise<ReplayReader> {
    const ws = new WebSocket(url, 'socketconveyor.com');
    const reader = new ReplayReader(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('message', () => resolve());
      ws.once('error', reject);
    });
    return reader;
  }

  /** Connects `count` readers, `parallel` handshakes at a time. */
  static async crowd(url: string, count: number, parallel = 50): Promise<ReplayReader[]> {
    const readers: ReplayReader[] = [];
    while (readers.length < count) readers.push(...(await Promise.all(Array.from({ length: Math.min(parallel, count - readers.length) }, () => ReplayReader.connect(url)))));
    return readers;
  }

  send(frame: unknown): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** Resolves once `count` numbered frames arrived; rejects after `timeoutMs` saying how far it got. */
  received(count: number, timeoutMs: number): Promise<void> {
    if (this.count >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`got ${this.count} of ${count} numbered frames in ${timeoutMs} ms; recoveries ${JSON.stringify(this.recoveries)}, errors ${this.errors.join(' ')}`)), timeoutMs);
      this.waiter = {
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
    });
  }

  close(): void {
    this.ws.close();
  }
}
