import type { AppDirectory, PusherApp, WebhookEvent } from '../apps/apps.js';
import type { Logger } from '../log.js';
import { hmacHex } from '../protocol/pusher/signatures.js';
import type { TaskPool } from './task-pool.js';

/** One event of a webhook body, as Pusher sends it. */
export type WebhookPayload = { name: WebhookEvent; channel: string } & Record<string, unknown>;

/** Events wait this long to be sent together, one request per app and URL. */
const BATCH_MS = 250;
/** Events an app may have waiting; past it new ones are dropped, counted and logged once. */
const MAX_PENDING_PER_APP = 10_000;
const ATTEMPTS = 4;

/**
 * Collects the apps' webhook events in the primary and hands batches to the task pool,
 * which signs nothing and waits on nothing here: delivery and its retries run in a thread.
 */
export class WebhookDispatcher {
  private readonly pending = new Map<string, WebhookPayload[]>();
  private timer: NodeJS.Timeout | undefined;
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
    if (queue.length >= MAX_PENDING_PER_APP) {
      if (this.dropped++ === 0) this.log.warn({ app: appId, limit: MAX_PENDING_PER_APP }, 'webhook queue full: dropping events');
      return;
    }
    queue.push(event);
    this.timer ??= setTimeout(() => this.flush(), BATCH_MS);
  }

  private flush(): void {
    this.timer = undefined;
    const batches = [...this.pending];
    this.pending.clear();
    for (const [appId, events] of batches) {
      const app = this.apps.byId(appId);
      if (app) this.send(app, events);
    }
  }

  private send(app: PusherApp, events: WebhookPayload[]): void {
    for (const hook of app.webhooks) {
      const wanted = hook.events ? events.filter((e) => hook.events!.includes(e.name)) : events;
      if (wanted.length === 0) continue;
      const body = JSON.stringify({ time_ms: Date.now(), events: wanted });
      const input = { url: hook.url, key: app.key, signature: hmacHex(app.secret, body), body, attempts: ATTEMPTS };
      this.pool.run({ name: 'webhook', input }).then(
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
