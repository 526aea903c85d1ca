import { fileURLToPath } from 'node:url';
import type { BenchOptions } from '../../src/bench/bench-options.js';
import type { ProtocolName, PublishAction } from '../../src/bench/wire-protocols.js';

/** This repository's CLI; `--conveyor` in the comparison points at another build. */
export const CONVEYOR_CLI = fileURLToPath(new URL('../../bin/conveyor.js', import.meta.url));
const baseline = (file: string): string => fileURLToPath(new URL(`./baselines/${file}`, import.meta.url));

/** One server of the comparison, started fresh for every run. */
export interface ServerSpec {
  key: string;
  label: string;
  /** What it is, for the report. */
  note: string;
  protocol: ProtocolName;
  /** `node` arguments that start it on a free port. */
  args: string[];
  /** Conveyor: its workers' pids come from /health and count as the server's CPU. */
  conveyor: boolean;
  /** With --protocol pusher: the app as ID:KEY:SECRET that the generator signs with. */
  pusherApp?: string;
  /** Several nodes of one server over a Redis started for the run: subscribers spread over them. */
  nodes?: number;
  /** How its publishers publish; broadcast when not said. */
  action?: PublishAction;
  /** Its receivers acknowledge every frame (a server started with --ack). */
  ack?: boolean;
}

/** The Pusher app of the Pusher load, served by Soketi and by Conveyor's Pusher mode alike. */
export const BENCH_PUSHER_APP = { id: 'bench-app', key: 'bench-key', secret: 'bench-secret-1f7c' } as const;
const PUSHER_APP_FLAG = `${BENCH_PUSHER_APP.id}:${BENCH_PUSHER_APP.key}:${BENCH_PUSHER_APP.secret}`;

const conveyor = (workers: number, cli = CONVEYOR_CLI): ServerSpec => ({
  key: `conveyor-${workers}`,
  label: `Conveyor --workers ${workers}`,
  note: `this server: \`conveyor start --workers ${workers} --task-workers 1\`, Socket Conveyor protocol, broadcast-action`,
  protocol: 'conveyor',
  args: [cli, 'start', '--port', '0', '--workers', String(workers), '--task-workers', '1', '--log-level', 'info', '--shutdown-timeout', '1'],
  conveyor: true,
});

const soketi = (): ServerSpec => ({
  key: 'soketi',
  label: 'Soketi 1.6.1, client events',
  note: 'Soketi from npm (installed on first use, uWebSockets.js aliased to the same native build through npm overrides); the Pusher load: private channels, publishes as client events',
  protocol: 'pusher',
  pusherApp: PUSHER_APP_FLAG,
  args: [baseline('soketi-server.js'), '--port', '0', '--app', PUSHER_APP_FLAG],
  conveyor: false,
});

const conveyorPusher = (cli = CONVEYOR_CLI): ServerSpec => ({
  key: 'conveyor-pusher',
  label: 'Conveyor Pusher mode, client events',
  note: 'this server, one worker, the same Pusher load as Soketi: `--pusher-apps` with client events on',
  protocol: 'pusher',
  pusherApp: PUSHER_APP_FLAG,
  args: [
    ...conveyor(1, cli).args,
    '--pusher-apps',
    JSON.stringify([{ ...BENCH_PUSHER_APP, clientEvents: true, clientEventRate: 1_000_000 }]),
  ],
  conveyor: true,
});

/** Every server of the comparison; Conveyor from `conveyorCli`. */
export const servers = (conveyorCli = CONVEYOR_CLI): readonly ServerSpec[] => [
  {
    key: 'uws',
    label: 'bare uWS (the limit)',
    note: 'uWebSockets.js, no protocol, one topic; publishes a turn\'s messages after the message callbacks return (scripts/bench-compare/baselines/uws-publish-server.ts)',
    protocol: 'raw',
    args: [baseline('uws-publish-server.js'), '--port', '0'],
    conveyor: false,
  },
  {
    key: 'uws-in-callback',
    label: 'bare uWS, publish in callback',
    note: 'the same server calling ws.publish inside the message callback, as the uWS examples do (`--publish in-callback`)',
    protocol: 'raw',
    args: [baseline('uws-publish-server.js'), '--port', '0', '--publish', 'in-callback'],
    conveyor: false,
  },
  {
    key: 'uws-ack',
    label: 'bare uWS, acknowledged',
    note: 'the same server with `--ack`: an id after every message, and each acknowledgment that comes back read and dropped (no tracking): the limit of acknowledged delivery',
    protocol: 'raw',
    args: [baseline('uws-publish-server.js'), '--port', '0', '--ack'],
    conveyor: false,
    ack: true,
  },
  {
    key: 'ws',
    label: 'ws, loop over clients',
    note: 'the `ws` package, sending to each client of the channel in a loop (scripts/bench-compare/baselines/ws-loop-server.ts)',
    protocol: 'raw',
    args: [baseline('ws-loop-server.js'), '--port', '0'],
    conveyor: false,
  },
  {
    key: 'socketio',
    label: 'Socket.IO 4, rooms',
    note: 'socket.io from npm, `socket.to(room).emit` (scripts/bench-compare/baselines/socketio-rooms-server.ts)',
    protocol: 'socketio',
    args: [baseline('socketio-rooms-server.js'), '--port', '0'],
    conveyor: false,
  },
  conveyor(1, conveyorCli),
  conveyor(2, conveyorCli),
  {
    ...conveyor(1, conveyorCli),
    key: 'conveyor-history',
    label: 'Conveyor --history 1000',
    note: 'one worker keeping the last 1,000 frames of each channel: every frame is numbered by the primary before any member gets it',
    args: [...conveyor(1, conveyorCli).args, '--history', '1000'],
  },
  {
    ...conveyor(1, conveyorCli),
    key: 'conveyor-2-nodes',
    label: 'Conveyor, 2 nodes over Redis',
    note: 'two nodes of one worker each with `--redis` (a redis-server started for the run); subscribers spread over both, publishers on the first: half the deliveries cross Redis',
    nodes: 2,
  },
  {
    ...conveyor(1, conveyorCli),
    key: 'conveyor-fanout-action',
    label: 'Conveyor fanout-action',
    note: 'one worker; publishers send `fanout-action` (every socket, planned by the task pool) instead of `broadcast-action`',
    action: 'fanout',
  },
  {
    ...conveyor(1, conveyorCli),
    key: 'conveyor-ack',
    label: 'Conveyor --ack, acknowledging',
    note: 'one worker with `--ack`: every frame carries an id and is re-sent until acknowledged; the receivers answer `acknowledge-action` for each, as the SDK does',
    args: [...conveyor(1, conveyorCli).args, '--ack'],
    ack: true,
  },
  {
    ...conveyor(1, conveyorCli),
    key: 'conveyor-http',
    label: 'Conveyor, HTTP publishing',
    note: 'one worker; the publisher POSTs each message to `/conveyor/message` over 50 keep-alive connections',
    action: 'http',
  },
  soketi(),
  conveyorPusher(conveyorCli),
  {
    ...soketi(),
    key: 'soketi-http',
    label: 'Soketi 1.6.1, HTTP API',
    note: 'Soketi, the Pusher load, publishing through the Pusher HTTP API (`POST /apps/{id}/events`, signed) over 50 keep-alive connections',
    action: 'http',
  },
  {
    ...conveyorPusher(conveyorCli),
    key: 'conveyor-pusher-http',
    label: 'Conveyor Pusher mode, HTTP API',
    note: 'Conveyor\'s Pusher mode, the same HTTP API load as Soketi\'s',
    action: 'http',
  },
];

export const SERVERS = servers();

/** How publishes reach the server: the one thing the two regimes change. */
export interface Regime {
  key: 'one-by-one' | 'batched';
  label: string;
  /** Why it is run this way, for the report. */
  note: string;
  options: Pick<BenchOptions, 'rate' | 'batch' | 'window'>;
}

export const REGIMES: readonly Regime[] = [
  {
    key: 'one-by-one',
    label: 'one by one',
    note: 'at most two publishes in flight: the next waits in the socket while the server delivers the current one, so the server always has work and still handles each publish alone in its event-loop turn',
    options: { rate: 0, batch: 1, window: 2 },
  },
  {
    key: 'batched',
    label: 'batched',
    note: 'publishes written 50 to a write, up to 200 in flight: the server can handle many publishes per event-loop turn and write each subscriber once per turn',
    options: { rate: 0, batch: 50, window: 200 },
  },
];

/** The `conveyor bench` command line equivalent to a run, for the report. */
export function commandLine(options: BenchOptions): string {
  const url = options.url.replace(/:\d+/, ':PORT');
  const parts = [
    'conveyor bench',
    options.scenario,
    `--url ${url}`,
    `--protocol ${options.protocol}`,
  ];
  // The secret stays out of reports, as the port does: SECRET stands for it.
  if (options.pusherApp !== undefined) parts.push(`--pusher-app ${options.pusherApp.split(':').slice(0, 2).join(':')}:SECRET`);
  if (options.action !== 'broadcast') parts.push(`--action ${options.action}`);
  if (options.ack) parts.push('--ack');
  parts.push(`--connections ${options.connections}`);
  if (options.scenario === 'fanout') parts.push(`--channels ${options.channels}`, `--publishers ${options.publishers}`);
  if (options.scenario === 'fanout' || options.scenario === 'echo') {
    parts.push(`--rate ${options.rate}`, `--batch ${options.batch}`);
    if (options.rate === 0) parts.push(`--window ${options.window}`);
    parts.push(`--payload ${options.payload}`);
  }
  parts.push(`--duration ${options.duration}`, `--threads ${options.threads}`);
  return parts.join(' ');
}
