import type { Argv } from 'yargs';
import { ExitCodes } from '../errors.js';
import { BenchOptionError, DEFAULT_OPTIONS, SCENARIOS, type BenchOptions, type Scenario } from './bench-options.js';
import { formatProgress, formatReport } from './report-table.js';
import { BenchRunError, runBench } from './run-bench.js';
import { PUBLISH_ACTIONS, PROTOCOL_NAMES, type PublishAction, type ProtocolName } from './wire-protocols.js';

const d = DEFAULT_OPTIONS;

function benchOptions(cli: Argv): Argv {
  return cli
    .positional('scenario', {
      describe: 'fanout: publishers broadcast to channel subscribers; echo: base-action round trips; connect: a handshake storm; idle: hold connections and read the server RSS',
      choices: SCENARIOS,
      default: 'fanout',
    })
    .options({
      url: { describe: 'Server to load (ws:// only); several, comma-separated, are nodes of one server: subscribers spread over them, publishers use the first', type: 'string', default: 'ws://127.0.0.1:8989' },
      protocol: {
        describe: 'conveyor (Socket Conveyor), raw (the comparison baselines), socketio (Socket.IO 4) or pusher (the server\'s Pusher mode, as pusher-js: private channels, publishes as client events; needs --pusher-app)',
        choices: PROTOCOL_NAMES,
        default: d.protocol,
      },
      'pusher-app': {
        describe: 'With --protocol pusher: the app as ID:KEY:SECRET, served by the server with client events on and a client event rate above the publish rate; connections open /app/KEY and sign their subscriptions with SECRET',
        type: 'string',
      },
      action: {
        describe: 'With the fanout scenario, how publishers publish: broadcast (conveyor: broadcast-action to their channel; pusher: a client event), fanout (conveyor: fanout-action to every socket; needs --channels 1) or http (the server\'s HTTP API: /conveyor/message, or the Pusher HTTP API\'s events signed with --pusher-app; one message per request over 50 keep-alive connections)',
        choices: PUBLISH_ACTIONS,
        default: d.action,
      },
      ack: { describe: 'Receivers acknowledge every frame that carries an id, as the SDK does against a server started with --ack', type: 'boolean', default: d.ack },
      connections: { describe: 'Subscribers (fanout), clients (echo) or connections to open (connect, idle)', type: 'number', default: d.connections },
      channels: { describe: 'Channels the subscribers and publishers spread over (fanout)', type: 'number', default: d.channels },
      publishers: { describe: 'Publishing connections, besides the subscribers (fanout)', type: 'number', default: d.publishers },
      rate: { describe: 'Messages per second in total, sent on schedule whatever the server does (open loop: latency includes queueing); 0 = closed loop at the maximum rate, see --window', type: 'number', default: d.rate },
      window: { describe: 'With --rate 0: messages in flight (sent, not yet delivered to every receiver) before senders wait', type: 'number', default: d.window },
      batch: { describe: 'Messages written together in one burst: 1 sends one by one, more lets the server handle several per event-loop turn', type: 'number', default: d.batch },
      duration: { describe: 'Seconds of sending (fanout, echo) or of holding the connections (idle)', type: 'number', default: d.duration },
      payload: { describe: 'Bytes of data per message (at least 32: the send-time stamp)', type: 'number', default: d.payload },
      threads: { describe: 'Receiving threads of the generator (publishers get one more)', type: 'number', default: d.threads },
      pace: { describe: 'µs receiving threads sleep between event-loop passes while messages flow, so one pass reads many sockets instead of waking per message (adds at most this to latencies); 0 = off', type: 'number', default: d.pace },
      concurrency: { describe: 'Handshakes in flight at once', type: 'number', default: d.concurrency },
      timeout: { describe: 'Seconds to wait for messages still in flight after sending stops; what is missing then counts as timeouts', type: 'number', default: d.timeout },
      'handshake-timeout': { describe: 'Seconds a handshake may take before it counts as failed', type: 'number', default: d.handshakeTimeout },
      'health-url': { describe: 'URL answering JSON with the server RSS in `rss` (idle); default: /health on the --url host', type: 'string' },
      'publisher-url': { describe: 'Where publishers connect (fanout), such as another node of the same server; default: the first --url', type: 'string' },
      'channel-prefix': { describe: 'Channel names are <prefix>-<n>', type: 'string', default: d.channelPrefix },
      json: { describe: 'Print the result as JSON instead of the table', type: 'boolean', default: false },
      progress: { describe: 'Print a progress line each second on stderr', type: 'boolean', default: true },
    });
}

function toOptions(argv: Record<string, unknown>): BenchOptions {
  return {
    scenario: argv['scenario'] as Scenario,
    url: argv['url'] as string,
    protocol: argv['protocol'] as ProtocolName,
    pusherApp: argv['pusher-app'] as string | undefined,
    action: argv['action'] as PublishAction,
    ack: argv['ack'] as boolean,
    connections: argv['connections'] as number,
    channels: argv['channels'] as number,
    publishers: argv['publishers'] as number,
    rate: argv['rate'] as number,
    window: argv['window'] as number,
    batch: argv['batch'] as number,
    duration: argv['duration'] as number,
    payload: argv['payload'] as number,
    threads: argv['threads'] as number,
    concurrency: argv['concurrency'] as number,
    pace: argv['pace'] as number,
    timeout: argv['timeout'] as number,
    handshakeTimeout: argv['handshake-timeout'] as number,
    healthUrl: argv['health-url'] as string | undefined,
    publisherUrl: argv['publisher-url'] as string | undefined,
    channelPrefix: argv['channel-prefix'] as string,
  };
}

async function bench(argv: Record<string, unknown>): Promise<void> {
  const interactive = process.stderr.isTTY === true;
  const onProgress = argv['progress']
    ? (snapshot: Parameters<typeof formatProgress>[0]): void => {
        const line = formatProgress(snapshot);
        process.stderr.write(interactive ? `\r\x1b[K${line}` : `${line}\n`);
      }
    : undefined;
  try {
    const result = await runBench(toOptions(argv), onProgress ? { onProgress } : {});
    if (interactive && onProgress) process.stderr.write('\r\x1b[K');
    // The app's secret is never printed: the JSON report repeats the options.
    const shown = result.options.pusherApp === undefined ? result : { ...result, options: { ...result.options, pusherApp: result.options.pusherApp.replace(/:[^:]*$/, ':[redacted]') } };
    process.stdout.write(argv['json'] ? `${JSON.stringify(shown, null, 2)}\n` : `${formatReport(result)}\n`);
  } catch (error) {
    if (interactive && onProgress) process.stderr.write('\n');
    if (error instanceof BenchOptionError || error instanceof BenchRunError) {
      process.stderr.write(`conveyor bench: ${error.message}\n`);
      process.exitCode = error instanceof BenchOptionError ? ExitCodes.invalidConfig : ExitCodes.failure;
      return;
    }
    throw error;
  }
}

/** `conveyor bench`: registered by bin/conveyor.ts. */
export function registerBenchCommand(cli: Argv): Argv {
  return cli.command('bench [scenario]', 'Load-test a Conveyor (or other WebSocket) server and report rates and latency percentiles', benchOptions, (argv) =>
    bench(argv as Record<string, unknown>),
  );
}
