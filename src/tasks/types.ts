/** Task inputs and outputs: plain data, so they cross thread and process boundaries as is. */

export interface FanoutInput {
  fd: number;
  /** The client's `data`, already checked to be present. */
  data: unknown;
  ackId?: string;
}

export interface FanoutOutput {
  frame: string;
}

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

/** What every task thread knows from start. */
export interface TaskEnvironment {}
