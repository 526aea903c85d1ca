import { setTimeout as sleep } from 'node:timers/promises';
import type { AckTimerInput, AckTimerOutput } from './types.js';

/**
 * Waits out one acknowledgment interval. It is never cancelled: a timer whose message was
 * acknowledged meanwhile simply finds nothing left to re-send when it returns.
 */
export async function ackTimerTask(input: AckTimerInput): Promise<AckTimerOutput> {
  await sleep(input.delayMs);
  return { firedAt: Date.now() };
}
