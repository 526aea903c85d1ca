import type { AppDirectory, PusherApp, WebhookPayload } from '../apps/apps.js';
import type { Logger } from '../log.js';
import { hmacHex } from '../tokens.js';
import type { TaskPool } from './task-pool.js';
import { jsonSize } from '../ipc/message-size.js';


/** Events wait this long to be sent together, one request per app and URL. */
const BATCH_MS = 250;
/** Events an app may have waiting; past it new ones are dropped and counted. */
const MAX_PENDING_PER_APP = 10_000;
/**
 * Bytes of events waiting and of request bodies being delivered (retries included), across
 * apps: a receiver that never answers holds every body for all its attempts, and 500 sockets
 * sending 10 KB client events once held 4.6 GB here.
 */
export const MAX_WEBHOOK_BYTES = 64 * 1024 * 1024;
/** At most one log line a second about dropped events, with how many since the last. */
const DROP_LOG_MS = 1000;
const ATTEMPTS = 4;

/**
 * Collects the apps' webhook events in the primary and hands batches to the task pool,
 * which signs nothing and waits on nothing here: delivery and its retries run in a thread.
 */
export class WebhookDispatcher {
  private readonly pending = new Map<string, WebhookPayload[]>();
  private timer: NodeJS.Timeout | undefined;
  /** Bytes of the events waiting and of the bodies being delivered. */
  private heldBytes = 0;
  private readonly pendingBytes = new Map<string, number>();
  private lastDropLog = Number.NEGATIVE_INFINITY;
  private droppedSinceLog = 0;
  /** Events dropped because an app's queue was full, and deliveries that failed every attempt. */
  dropped = 0;
  failed = 0;
  delivered = 0;

  constructor(
    private readonly apps: AppDirectory,
    private readonly pool: TaskPool,
    private readonly log: Logger,
  ) {}

  add(appId: string, event: WebhookPayload): void {
    const app = this.apps.byId(appId);
    if (!app || !app.webhooks.some((hook) => !hook.events || hook.events.includes(event.name))) return;
    let queue = this.pending.get(appId);
    if (!queue) this.pending.set(appId, (queue = []));
    const size = jsonSize(event);
    if (queue.length >= MAX_PENDING_PER_APP || this.heldBytes + size > MAX_WEBHOOK_BYTES) return this.drop(appId);
    queue.push(event);
    this.heldBytes += size;
    this.pendingBytes.set(appId, (this.pendingBytes.get(appId) ?? 0) + size);
    this.timer ??= setTimeout(() => this.flush(), BATCH_MS);
  }

  /** Bytes held now (events waiting, bodies being delivered). */
  get bytes(): number {
    return this.heldBytes;
  }

  private drop(appId: string): void {
    this.dropped++;
    this.droppedSinceLog++;
    const now = Date.now();
    if (now - this.lastDropLog < DROP_LOG_MS) return;
    this.log.warn(
      { app: appId, dropped: this.droppedSinceLog, maxEvents: MAX_PENDING_PER_APP, maxBytes: MAX_WEBHOOK_BYTES },
      'webhook queue full: dropping events until the receivers catch up (conveyor_webhook_events_dropped_total)',
    );
    this.lastDropLog = now;
    this.droppedSinceLog = 0;
  }

  private flush(): void {
    this.timer = undefined;
    const batches = [...this.pending];
    this.pending.clear();
    for (const [appId, events] of batches) {
      // What waited is now held as the bodies being delivered.
      this.heldBytes -= this.pendingBytes.get(appId) ?? 0;
      const app = this.apps.byId(appId);
      if (app) this.send(app, events);
    }
    this.pendingBytes.clear();
  }

  private send(app: PusherApp, events: WebhookPayload[]): void {
    for (const hook of app.webhooks) {
      const wanted = hook.events ? events.filter((e) => hook.events!.includes(e.name)) : events;
      if (wanted.length === 0) continue;
      const body = JSON.stringify({ time_ms: Date.now(), events: wanted });
      const input = { url: hook.url, key: app.key, signature: hmacHex(app.secret, body), body, attempts: ATTEMPTS };
      this.heldBytes += body.length;
      this.pool.run({ name: 'webhook', input }).finally(() => (this.heldBytes -= body.length)).then(
        (result) => {
          if ('delivered' in result && result.delivered) this.delivered++;
          else {
            this.failed++;
            this.log.warn({ app: app.id, url: hook.url, events: wanted.length, error: 'error' in result ? result.error : undefined }, 'webhook not delivered');
          }
        },
        (error: unknown) => {
          this.failed++;
          this.log.error({ err: error, app: app.id }, 'webhook task failed');
        },
      );
    }
  }
}
