/** Task inputs and outputs: plain data, so they cross thread and process boundaries as is. */

/** One socket's fanout: the client's `data`, already checked to be present. */
export interface FanoutItem {
  fd: number;
  data: unknown;
  ackId?: string;
}

/** Fanouts asked for in one event-loop turn of a worker, planned together. */
export interface FanoutInput {
  items: FanoutItem[];
}

export interface FanoutOutput {
  /** One frame per item, in their order. */
  frames: string[];
}

export interface AckTimerInput {
  delayMs: number;
}

export interface AckTimerOutput {
  firedAt: number;
}

/** One signed webhook POST: the body is ready, the task only delivers it. */
export interface WebhookInput {
  url: string;
  key: string;
  signature: string;
  body: string;
  attempts: number;
}

export type WebhookOutput = { delivered: true; attempts: number; status: number } | { delivered: false; attempts: number; error: string };

export type TaskRequest = { name: 'fanout'; input: FanoutInput } | { name: 'ack-timer'; input: AckTimerInput } | { name: 'webhook'; input: WebhookInput };

export interface TaskOutputs {
  fanout: FanoutOutput;
  'ack-timer': AckTimerOutput;
  webhook: WebhookOutput;
}

export type TaskResult = TaskOutputs[keyof TaskOutputs];

/** What every task thread knows from start. */
export interface TaskEnvironment {}
