import WebSocket from 'ws';
import { APP, channelAuth } from './pusher.js';

/**
 * A Pusher socket for crowds that keeps no frame: it joins one presence channel and records
 * only what its subscription_succeeded said (the roster's count and its size) and any error,
 * so a thousand of them hold rosters of hundreds of KB without the test process doing so.
 */
export class RosterReader {
  /** The roster's `count`, once subscription_succeeded came. */
  count: number | undefined;
  rosterBytes = 0;
  errors: string[] = [];
  private settle: (() => void) | undefined;
  readonly socketId: Promise<string>;

  private constructor(readonly ws: WebSocket) {
    this.socketId = new Promise((resolve, reject) => {
      ws.once('error', reject);
      ws.on('message', (data: Buffer) => {
        // Read as bytes: a roster is hundreds of KB, and decoding each would make this process, not the server, what is measured.
        if (data.length < 4096 && data.includes('pusher:connection_established')) {
          const { data: inner } = JSON.parse(data.toString()) as { data: string };
          resolve((JSON.parse(inner) as { socket_id: string }).socket_id);
        } else if (data.subarray(0, 64).includes('pusher_internal:subscription_succeeded')) {
          this.rosterBytes = data.length;
          const at = data.indexOf('\\"count\\":');
          this.count = at < 0 ? undefined : Number(/^\d+/.exec(data.subarray(at + 10, at + 24).toString())?.[0]);
          this.settle?.();
        } else if (data.subarray(0, 64).includes('error')) {
          this.errors.push(data.subarray(0, 300).toString());
          this.settle?.();
        }
      });
    });
    ws.on('error', () => {});
  }

  static async connect(url: string): Promise<RosterReader> {
    const reader = new RosterReader(new WebSocket(`${url}/app/${APP.key}?protocol=7&client=js&version=8.6.0`, { perMessageDeflate: false }));
    await reader.socketId;
    return reader;
  }

  /** `n` readers, opened a few at a time so that the handshakes are not what is measured. */
  static async crowd(url: string, n: number): Promise<RosterReader[]> {
    const readers: RosterReader[] = [];
    while (readers.length < n) readers.push(...(await Promise.all(Array.from({ length: Math.min(50, n - readers.length) }, () => RosterReader.connect(url)))));
    return readers;
  }

  /** Sends a signed presence subscribe as `member`. */
  async join(channel: string, member: { user_id: string; user_info: unknown }): Promise<void> {
    const channelData = JSON.stringify(member);
    this.ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel, auth: channelAuth(await this.socketId, channel, channelData), channel_data: channelData } }));
  }

  /** Resolves once subscription_succeeded (or an error) came; rejects after `timeoutMs`. */
  answered(timeoutMs: number): Promise<void> {
    if (this.count !== undefined || this.errors.length > 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no subscription_succeeded within ${timeoutMs} ms`)), timeoutMs);
      this.settle = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  close(): void {
    this.ws.close();
  }
}
