import type { Publication } from '../ipc/messages.js';

export type { Publication };

/**
 * How full the way out of this worker is: `clear`; `congested`, when the heaviest senders
 * must hold off; `full`, when nothing more may cross until it drains.
 */
export type BusPressure = 'clear' | 'congested' | 'full';

/**
 * The only way a message leaves an event worker. Implementations: `ipc` (cluster, through
 * the primary's router); a Redis bus for several machines plugs in here.
 */
export interface Bus {
  /** True when another worker has subscribers of `topic`, so a publication there must cross. */
  crosses(topic: string): boolean;
  pressure(): BusPressure;
  /** Sends a publication to the other workers (this worker has already delivered it locally). */
  publish(publication: Publication): void;
  /** Publications from other workers, to deliver locally. */
  onMessage(handler: (publication: Publication) => void): void;
}
