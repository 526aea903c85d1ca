import type { Scenario } from './bench-options.js';
import type { PublishAction, ProtocolName, PusherAppCredentials } from './wire-protocols.js';

/** What one generator thread does: fixed when it starts, so the thread needs no more setup. */
export interface ThreadPlan {
  index: number;
  scenario: Scenario;
  host: string;
  port: number;
  /** Every --url's host and port: subscriber i connects to the (i mod n)-th. */
  endpoints: { host: string; port: number }[];
  /** Where publishers connect. */
  publisherEndpoint: { host: string; port: number };
  /** Path and query of the URL. */
  path: string;
  protocol: ProtocolName;
  /** The app of --protocol pusher, whose secret signs the subscriptions. */
  pusherApp: PusherAppCredentials | undefined;
  action: PublishAction;
  /** Receivers acknowledge every frame with an id. */
  ack: boolean;
  /** Origin of the stamps' clock (monotonic µs), the same in every thread. */
  epoch: number;
  /** Indexes of the connections this thread opens. */
  connectionIds: number[];
  /** Subscribers (fanout) or clients; ids from this number on are publishers. */
  connections: number;
  publishers: number;
  channels: number;
  channelPrefix: string;
  /** This thread's share of the message rate; 0 = closed loop within `window`. */
  rate: number;
  /** Messages in flight allowed with rate 0, for this thread's senders together. */
  window: number;
  /**
   * One BigInt64 slot per thread: the messages it has received so far, so that closed-loop
   * senders see deliveries without a message round trip.
   */
  deliveries: SharedArrayBuffer;
  batch: number;
  payload: number;
  /** µs of sleep between event-loop passes while receiving (0 = none). */
  pace: number;
  /** Handshakes this thread keeps in flight. */
  concurrency: number;
  handshakeTimeoutMs: number;
}

/** Counters every thread reports, in progress and at the end. */
export interface ThreadCounters {
  open: number;
  failed: number;
  /** Messages sent (publishes or echo requests). */
  sent: number;
  /** Stamped messages received. */
  delivered: number;
  /** Received before the end of the sending window. */
  deliveredInWindow: number;
  /** Messages skipped in a sender's sequence (never arrived while later ones did). */
  gaps: number;
  errors: number;
  /** µs spent in pacing sleeps up to the end of the sending window: not work. */
  slept: number;
}

export type MainToThread =
  | { type: 'open' }
  /** `receiversPerChannel`: how many receivers each channel's messages reach (closed loop). */
  | { type: 'start'; start: number; end: number; receiversPerChannel: number[] }
  /** After sending stopped and the wait for stragglers is over. `sentPerChannel` for fanout receivers. */
  | { type: 'finish'; sentPerChannel: number[] };

export type ThreadToMain =
  | {
      type: 'opened';
      counters: ThreadCounters;
      /** µs since the epoch: first handshake started, last connection ready. */
      firstAttempt: number;
      lastReady: number;
      handshakes: string;
      errorSamples: string[];
      /** Subscribers set up in each channel (fanout). */
      subscribersPerChannel: number[];
    }
  | { type: 'progress'; counters: ThreadCounters }
  /** A sending thread is done sending. */
  | { type: 'sent'; sentPerChannel: number[]; sent: number; sendLag: string }
  | {
      type: 'final';
      counters: ThreadCounters;
      latency: string;
      /** Never arrived by the deadline, on connections still open. */
      timeouts: number;
      /** Never arrived on connections the server closed or lost. */
      lostToClosed: number;
      /** Arrived after a later message of the same sender. */
      late: number;
      /** Arrived again (re-sends of a server with acknowledgments): not deliveries. */
      repeated: number;
      /** Stamped messages from senders this receiver should not hear from. */
      foreign: number;
      errorSamples: string[];
    }
  | { type: 'fatal'; message: string };
