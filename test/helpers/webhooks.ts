import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventLog } from './pusher.js';

export interface WebhookEvent {
  name: string;
  channel: string;
  user_id?: string;
  event?: string;
  data?: unknown;
  socket_id?: string;
}

/**
 * A real HTTP server receiving the app's webhooks. It verifies each request with the
 * `pusher` SDK's own webhook check, and answers 500 to the first `failFirst` requests.
 */
export async function webhookReceiver(t: { after(fn: () => void): void }, failFirst = 0) {
  const requests: { headers: IncomingHttpHeaders; body: string }[] = [];
  let pushEvent: (event: WebhookEvent) => void = () => {};
  const log = new EventLog<WebhookEvent>((handler) => (pushEvent = handler));
  let failures = failFirst;
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      if (failures > 0) {
        failures--;
        res.writeHead(500).end();
        return;
      }
      requests.push({ headers: req.headers, body });
      for (const event of (JSON.parse(body) as { events: WebhookEvent[] }).events) pushEvent(event);
      res.writeHead(200).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  t.after(() => receiver.close());
  return { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`, requests, log };
}

