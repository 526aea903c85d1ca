import { setTimeout as sleep } from 'node:timers/promises';
import type { AckTimerInput, AckTimerOutput } from './types.js';

/**
 * One tick of a worker's acknowledgment clock. A worker has at most one tick under way,
 * whatever the number of messages it tracks, and it is never cancelled: a tick that finds
 * nothing due simply schedules the next one.
 */
export async function ackTimerTask(input: AckTimerInput): Promise<AckTimerOutput> {
  await sleep(input.delayMs);
  return { firedAt: Date.now() };
}
