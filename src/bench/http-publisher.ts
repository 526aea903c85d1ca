import { createHash, createHmac } from 'node:crypto';
import { Agent, request } from 'node:http';
import type { Endpoint } from './raw-connection.js';
import { restamp, writeStamp } from './stamp.js';
import type { ProtocolName, PusherAppCredentials } from './wire-protocols.js';

/** Keep-alive connections a publisher's requests share, as autocannon's default load of 50 would. */
export const HTTP_PUBLISH_CONNECTIONS = 50;

/** The event name of every HTTP publish to a Pusher server. */
const PUSHER_HTTP_EVENT = 'bench';

/**
 * A publisher that publishes through a server's HTTP API instead of a socket: Socket
 * Conveyor's `POST /conveyor/message` (with the URL's token), or the Pusher HTTP API's
 * `POST /apps/{id}/events`, signed with the app's secret as the `pusher` SDK signs it. Each
 * request carries one message, stamped like a socket publish, so receivers measure both
 * alike.
 */
export class HttpPublisher {
  /** Requests sent and not yet answered. */
  inFlight = 0;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: HTTP_PUBLISH_CONNECTIONS });
  private readonly path: string;
  private readonly prefix: Buffer;
  private readonly suffix: Buffer;
  /** One request's body; each request stamps a copy. */
  private readonly template: Buffer;

  constructor(
    private readonly endpoint: Endpoint,
    basePath: string,
    protocol: ProtocolName,
    channel: string,
    private readonly payload: number,
    sender: number,
    private readonly app: PusherAppCredentials | undefined,
    private readonly onError: (reason: string) => void,
  ) {
    if (protocol === 'pusher') {
      if (!app) throw new Error('an HTTP publish to a Pusher server needs --pusher-app');
      this.path = `/apps/${encodeURIComponent(app.id)}/events`;
      this.prefix = Buffer.from(`{"name":"${PUSHER_HTTP_EVENT}","channels":[${JSON.stringify(`private-${channel}`)}],"data":"`);
    } else if (protocol === 'conveyor') {
      const token = new URLSearchParams(basePath.split('?', 2)[1] ?? '').get('token');
      this.path = `/conveyor/message${token ? `?token=${encodeURIComponent(token)}` : ''}`;
      this.prefix = Buffer.from(`{"channel":${JSON.stringify(channel)},"message":"`);
    } else {
      throw new Error(`protocol ${protocol} has no HTTP publishing`);
    }
    this.suffix = Buffer.from('"}');
    this.template = Buffer.concat([this.prefix, Buffer.alloc(payload), this.suffix]);
    writeStamp(this.template, this.prefix.length, payload, 0, sender, 0);
  }

  /** Sends one message stamped with `micros` and `sequence`. */
  publish(micros: number, sequence: number): void {
    const body = Buffer.from(this.template);
    restamp(body, this.prefix.length, micros, sequence);
    this.inFlight++;
    const req = request(
      {
        agent: this.agent,
        host: this.endpoint.host,
        port: this.endpoint.port,
        method: 'POST',
        path: this.signedPath(body),
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          this.inFlight--;
          if (res.statusCode !== 200) this.onError(`HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString('utf8', 0, 200)}`);
        });
      },
    );
    req.on('error', (error) => {
      this.inFlight--;
      this.onError(`HTTP publish failed: ${error.message}`);
    });
    req.end(body);
  }

  close(): void {
    this.agent.destroy();
  }

  /** The Pusher HTTP API's signature: HMAC-SHA256 of method, path and the sorted query. */
  private signedPath(body: Buffer): string {
    if (!this.app) return this.path;
    const query = new URLSearchParams({
      auth_key: this.app.key,
      auth_timestamp: String(Math.floor(Date.now() / 1000)),
      auth_version: '1.0',
      body_md5: createHash('md5').update(body).digest('hex'),
    });
    const signature = createHmac('sha256', this.app.secret).update(`POST\n${this.path}\n${query.toString()}`).digest('hex');
    return `${this.path}?${query.toString()}&auth_signature=${signature}`;
  }
}
