import type { Publication } from '../ipc/messages.js';

export type { Publication };

/**
 * The only way a message leaves an event worker. Implementations: `ipc` (cluster, through
 * the primary's router); a Redis bus for several machines plugs in here.
 */
export interface Bus {
  /** Sends a publication to the other workers (this worker has already delivered it locally). */
  publish(publication: Publication): void;
  /** Publications from other workers, to deliver locally. */
  onMessage(handler: (publication: Publication) => void): void;
}
