import { availableParallelism } from 'node:os';
import { MAX_SENDERS, MIN_PAYLOAD } from './stamp.js';
import { PUBLISH_ACTIONS, parsePusherApp, PROTOCOL_NAMES, type PublishAction, type ProtocolName } from './wire-protocols.js';

export const SCENARIOS = ['fanout', 'echo', 'connect', 'idle'] as const;
export type Scenario = (typeof SCENARIOS)[number];

/** Everything one run of `conveyor bench` needs; the CLI and the comparison both build one. */
export interface BenchOptions {
  scenario: Scenario;
  url: string;
  protocol: ProtocolName;
  /** With --protocol pusher: the app to connect to, as `ID:KEY:SECRET` (its key opens /app/KEY, its secret signs subscriptions). */
  pusherApp: string | undefined;
  /** How publishers publish (see PUBLISH_ACTIONS). */
  action: PublishAction;
  /** Receivers acknowledge every frame that carries an id (a server with acknowledgments on). */
  ack: boolean;
  /** Subscribers (fanout), echo clients (echo) or connections to open (connect, idle). */
  connections: number;
  channels: number;
  publishers: number;
  /** Messages per second in total (publishes or echo requests), open loop; 0 = closed loop, see `window`. */
  rate: number;
  /**
   * With rate 0: messages a sender may have in flight (sent, not yet delivered to every
   * receiver). Senders send as fast as deliveries free the window: the maximum rate.
   */
  window: number;
  /** Messages written together in one burst. */
  batch: number;
  /** Seconds of sending (fanout, echo) or of holding the connections (idle). */
  duration: number;
  /** Bytes of each message's data. */
  payload: number;
  /** Receiving threads; publishers get a thread of their own. */
  threads: number;
  /**
   * µs a receiving thread sleeps between event-loop passes while messages flow, so that one
   * pass reads many sockets instead of waking up per message; 0 = never.
   */
  pace: number;
  /** Handshakes in flight at once, all threads together. */
  concurrency: number;
  /** Seconds to wait for messages still in flight after sending stops. */
  timeout: number;
  /** Seconds a handshake may take before it counts as failed. */
  handshakeTimeout: number;
  /** Where the server's RSS is read (GET, JSON with `rss`); undefined = derived from the URL. */
  healthUrl: string | undefined;
  /** Where publishers connect; default: the first --url. */
  publisherUrl: string | undefined;
  /** Name prefix of the channels used. */
  channelPrefix: string;
}

export const DEFAULT_OPTIONS: Omit<BenchOptions, 'scenario' | 'url'> = {
  protocol: 'conveyor',
  pusherApp: undefined,
  action: 'broadcast',
  ack: false,
  connections: 100,
  channels: 1,
  publishers: 1,
  rate: 1000,
  window: 256,
  batch: 1,
  duration: 10,
  payload: 64,
  // One core is the server's on a small machine; more threads than cores only add switching.
  threads: Math.max(1, Math.min(4, availableParallelism() - 1)),
  pace: 200,
  concurrency: 200,
  timeout: 5,
  handshakeTimeout: 10,
  healthUrl: undefined,
  publisherUrl: undefined,
  channelPrefix: 'bench',
};

export class BenchOptionError extends Error {
  override readonly name = 'BenchOptionError';
}

const wholeAtLeast = (name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): string | undefined =>
  !Number.isInteger(value) || value < min || value > max ? `--${name} must be a whole number from ${min} to ${max}, got ${value}` : undefined;

/** Checks a whole set of options; throws BenchOptionError saying what is wrong and what to do. */
export function validateOptions(options: BenchOptions): BenchOptions {
  const problems = [
    SCENARIOS.includes(options.scenario) ? undefined : `unknown scenario "${options.scenario}": choose one of ${SCENARIOS.join(', ')}`,
    PROTOCOL_NAMES.includes(options.protocol) ? undefined : `--protocol must be one of ${PROTOCOL_NAMES.join(', ')}, got "${options.protocol}"`,
    ...benchUrls(options.url).map(urlProblem),
    options.publisherUrl === undefined ? undefined : urlProblem(options.publisherUrl),
    wholeAtLeast('connections', options.connections, 1, 1_000_000),
    wholeAtLeast('channels', options.channels, 1, options.connections),
    wholeAtLeast('publishers', options.publishers, 1, MAX_SENDERS - 1),
    !(options.rate >= 0) ? `--rate must be 0 (closed loop, as fast as deliveries allow) or more, got ${options.rate}` : undefined,
    wholeAtLeast('window', options.window, 1, 1_000_000),
    options.rate === 0 && options.window < options.batch ? `--window (${options.window}) must be at least --batch (${options.batch}): a burst must fit in the window` : undefined,
    wholeAtLeast('batch', options.batch, 1, 10_000),
    !(options.duration > 0) ? `--duration must be more than 0 seconds, got ${options.duration}` : undefined,
    wholeAtLeast('payload', options.payload, MIN_PAYLOAD, 16 * 1024 * 1024)?.concat(` (each message carries a ${MIN_PAYLOAD}-byte stamp: send time, sender and sequence)`),
    wholeAtLeast('threads', options.threads, 1, 64),
    wholeAtLeast('concurrency', options.concurrency, 1, 100_000),
    wholeAtLeast('pace', options.pace, 0, 100_000),
    !(options.timeout >= 0) ? `--timeout must be 0 or more seconds, got ${options.timeout}` : undefined,
    !(options.handshakeTimeout > 0) ? `--handshake-timeout must be more than 0 seconds, got ${options.handshakeTimeout}` : undefined,
    pusherAppProblem(options),
    actionProblem(options),
    options.scenario === 'echo' && options.protocol === 'pusher'
      ? `the echo scenario needs a server that answers base-action: use --protocol conveyor (Pusher never echoes a client event to its sender)`
      : options.scenario === 'echo' && options.protocol !== 'conveyor'
        ? `the echo scenario needs a server that answers base-action: use --protocol conveyor`
        : undefined,
    options.scenario === 'echo' && options.connections >= MAX_SENDERS ? `--connections must be under ${MAX_SENDERS} for echo (each connection numbers its own messages)` : undefined,
  ].filter((p): p is string => p !== undefined);
  if (problems.length > 0) throw new BenchOptionError(problems.join('\n'));
  return options;
}

function actionProblem(options: BenchOptions): string | undefined {
  if (!PUBLISH_ACTIONS.includes(options.action)) return `--action must be one of ${PUBLISH_ACTIONS.join(', ')}, got "${options.action}"`;
  if (options.action === 'broadcast') return undefined;
  if (options.action === 'http') {
    return (options.protocol !== 'conveyor' && options.protocol !== 'pusher') || options.scenario !== 'fanout'
      ? `--action http is for the fanout scenario with --protocol conveyor or pusher (the protocol is ${options.protocol}, the scenario ${options.scenario})`
      : undefined;
  }
  if (options.protocol !== 'conveyor' || options.scenario !== 'fanout') return `--action fanout is for the fanout scenario with --protocol conveyor (the protocol is ${options.protocol}, the scenario ${options.scenario})`;
  // fanout-action reaches every socket, so only with one channel are the subscribers exactly its receivers.
  if (options.channels !== 1) return `--action fanout reaches every socket, not a channel: use --channels 1 (got ${options.channels})`;
  return undefined;
}

function pusherAppProblem(options: BenchOptions): string | undefined {
  if (options.protocol !== 'pusher') {
    return options.pusherApp === undefined ? undefined : `--pusher-app is only for --protocol pusher (the protocol is ${options.protocol})`;
  }
  if (options.pusherApp === undefined) return '--protocol pusher needs --pusher-app ID:KEY:SECRET: an app the server serves, with client events on';
  if (parsePusherApp(options.pusherApp) === undefined) {
    // Never the secret: say only what shape was given.
    return `--pusher-app must be ID:KEY:SECRET (three non-empty parts), got ${options.pusherApp.split(':').length} part(s)`;
  }
  return undefined;
}

/** --url, split: several (comma-separated) are nodes of one server. */
export function benchUrls(spec: string): string[] {
  return spec.split(',').map((url) => url.trim()).filter((url) => url !== '');
}

function urlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `--url must be a WebSocket URL such as ws://127.0.0.1:8989, got "${url}"`;
  }
  if (parsed.protocol === 'wss:') return '--url: wss:// is not supported by the load generator (it reads raw TCP); bench the server over ws:// on a local port';
  if (parsed.protocol !== 'ws:') return `--url must start with ws://, got "${url}"`;
  return undefined;
}

/** Connections a run opens: subscribers or clients, plus publishers in fanout. */
export function connectionCount(options: BenchOptions): number {
  return options.connections + (options.scenario === 'fanout' ? options.publishers : 0);
}
