/** Task inputs and outputs: plain data, so they cross thread and process boundaries as is. */

export interface FanoutInput {
  fd: number;
  /** The client's `data`; absent when the frame had none. */
  data?: unknown;
  hasData: boolean;
  auth?: unknown;
  ackId?: string;
}

export type FanoutOutput = { ok: true; frame: string } | { ok: false; error: string };

export interface AckTimerInput {
  delayMs: number;
}

export interface AckTimerOutput {
  firedAt: number;
}

export type TaskRequest = { name: 'fanout'; input: FanoutInput } | { name: 'ack-timer'; input: AckTimerInput };

export interface TaskOutputs {
  fanout: FanoutOutput;
  'ack-timer': AckTimerOutput;
}

export type TaskResult = TaskOutputs[keyof TaskOutputs];

/** What every task thread knows from start: the server token, never sent per task. */
export interface TaskEnvironment {
  token: string | undefined;
}
