import { ackTimerTask } from './ack-timer.js';
import { fanoutTask } from './fanout.js';
import { webhookTask } from './webhook.js';
import type { TaskEnvironment, TaskRequest, TaskResult } from './types.js';

export type * from './types.js';

/** Runs one task by name; the single entry of every task thread. */
export async function runTask(request: TaskRequest, _env: TaskEnvironment): Promise<TaskResult> {
  switch (request.name) {
    case 'fanout':
      return fanoutTask(request.input);
    case 'ack-timer':
      return ackTimerTask(request.input);
    case 'webhook':
      return webhookTask(request.input);
  }
}
