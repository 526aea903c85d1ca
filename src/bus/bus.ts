/** A topic as both sides name it: `ch:<channel>`, `lobby` (sockets in no channel) or `all`. */
export type Topic = string;

/** A frame published to a topic, the same bytes for every recipient. */
export interface Publication {
  topic: Topic;
  /** The message; for a binary one, its bytes in base64 (JSON carries no bytes). */
  frame: string;
  binary?: true;
  /** Present when acknowledgments are on: recipients must ack this id. */
  ackId?: string;
  /** A socket (by fd) that must not receive it, on whichever worker it is. */
  except?: number;
  /** With --history: a channel frame for the primary to number and keep before anyone gets it. */
  keep?: true;
  /** With --history: its number in the channel; members get it on the channel's history topic. */
  seq?: number;
}


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
