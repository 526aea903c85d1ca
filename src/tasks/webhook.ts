import { setTimeout as sleep } from 'node:timers/promises';
import type { WebhookInput, WebhookOutput } from './types.js';

/** Waits before each retry: the first retry after 1 s, then 2 s, 4 s, … */
const RETRY_BASE_MS = 1000;
/** One attempt gives up after this long. */
const ATTEMPT_TIMEOUT_MS = 5000;

/**
 * Delivers one signed webhook request, retrying with backoff on a network error or a
 * status other than 2xx. Runs in a task thread: a slow or dead receiver never holds up an
 * event worker or the primary.
 */
export async function webhookTask(input: WebhookInput): Promise<WebhookOutput> {
  let last = '';
  for (let attempt = 1; attempt <= input.attempts; attempt++) {
    try {
      const response = await fetch(input.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-pusher-key': input.key, 'x-pusher-signature': input.signature },
        body: input.body,
        signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
      });
      await response.arrayBuffer();
      if (response.ok) return { delivered: true, attempts: attempt, status: response.status };
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    if (attempt < input.attempts) await sleep(RETRY_BASE_MS * 2 ** (attempt - 1));
  }
  return { delivered: false, attempts: input.attempts, error: last };
}
