#!/usr/bin/env node
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer as createNetServer } from 'node:net';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { BenchOptionError, DEFAULT_OPTIONS, type BenchOptions } from '../../src/bench/bench-options.js';
import { renderChart } from './compare-chart.js';
import { profileOf, summarizeCpuProfile, type ProfileSummary } from '../../src/bench/cpu-profile.js';
import { CONVEYOR_CLI, REGIMES, SERVERS, commandLine, servers as allServers, type ServerSpec } from './compare-plan.js';
import { renderReport } from './compare-report.js';
import {
  bestRate,
  regimeStats,
  runStats,
  type BudgetLine,
  type CompareSummary,
  type IdleRun,
  type LatencyRun,
  type Machine,
  type RunStats,
  type ServerRow,
} from './compare-results.js';
import { ms, short, whole } from '../../src/bench/report-table.js';
import { BenchRunError, runBench, type BenchResult } from '../../src/bench/run-bench.js';
import { cpuSeconds, startServerProcess } from '../../src/bench/server-process.js';

/**
 * `npm run bench:compare`: the same fanout load against bare uWS, ws, Socket.IO, Soketi and
 * Conveyor (one and two workers, two nodes over Redis, history on, Pusher mode), each started fresh for every run, in rounds that interleave the servers so
 * that a noisy neighbour hurts all of them alike. Writes docs/benchmarks.md and
 * docs/benchmarks.svg, and checks the performance budget.
 */

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
/**
 * Runs of the idle (memory) load per server. RSS moves by a few per cent from one run to the
 * next (when the allocator and the garbage collector happen to grow or return memory), which
 * near a 2 KB bound decides the line: the median of three is robust to one odd run.
 */
const IDLE_ROUNDS = 3;

/** The median run by memory per connection, carrying the median handshake rate and every run. */
function medianIdle(runs: IdleRun[]): IdleRun {
  const middle = <T>(values: T[], by: (v: T) => number): T => [...values].sort((a, b) => by(a) - by(b))[Math.floor((values.length - 1) / 2)]!;
  const median = middle(runs, (r) => r.perConnection);
  return {
    ...median,
    handshakesPerSecond: middle(runs, (r) => r.handshakesPerSecond).handshakesPerSecond,
    handshakesPerServerSecond: middle(runs, (r) => r.handshakesPerServerSecond ?? 0).handshakesPerServerSecond ?? 0,
    runs: runs.map((r) => ({ perConnection: r.perConnection, handshakesPerSecond: r.handshakesPerSecond })),
  };
}

/** Publishes per second of the light latency load: each fanout alone on an idle server. */
const LIGHT_RATE = 10;

const argv = yargs(hideBin(process.argv))
  .scriptName('bench:compare')
  .usage('$0 [options]: compare Conveyor with bare uWS, ws, Socket.IO and Soketi under the same fanout load')
  .options({
    rounds: { describe: 'Runs of every server and regime, interleaved; the best of them is reported', type: 'number', default: 2 },
    duration: { describe: 'Seconds of sending per run', type: 'number', default: 4 },
    connections: { describe: 'Subscribers, all in one channel', type: 'number', default: 1000 },
    payload: { describe: 'Bytes of data per message', type: 'number', default: 64 },
    'idle-connections': { describe: 'Connections of the idle (memory) run; 0 skips it', type: 'number', default: 15000 },
    'out-dir': { describe: 'Where benchmarks.md and benchmarks.svg are written', type: 'string', default: join(REPO, 'docs') },
    servers: { describe: `Comma-separated subset of: ${SERVERS.map((s) => s.key).join(', ')}`, type: 'string', default: SERVERS.map((s) => s.key).join(',') },
    conveyor: { describe: 'Conveyor CLI to run for the Conveyor rows: another build, to compare versions under the same load', type: 'string', default: CONVEYOR_CLI },
    'from-json': { describe: 'Measure nothing: write the report and chart again from a saved run (dist/benchmarks.json)', type: 'string' },
  })
  .strict()
  .help()
  .version(false)
  .parseSync();

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function packageVersion(name: string): string {
  try {
    const manifest = JSON.parse(readFileSync(join(REPO, 'node_modules', name, 'package.json'), 'utf8')) as { version: string; name: string };
    return manifest.name === name ? manifest.version : `${manifest.version} (${manifest.name})`;
  } catch {
    return 'unknown';
  }
}

function machine(loadBefore: number[]): Machine {
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    kernel: release(),
    node: process.version,
    packages: Object.fromEntries(['uWebSockets.js', 'ws', 'socket.io', 'hdr-histogram-js'].map((n) => [n, packageVersion(n)])),
    loadBefore,
    loadAfter: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

interface Measured {
  result: BenchResult;
  serverCores: number;
  /** With a profile directory: the process whose profile tells where the server's time went (Conveyor: its first event worker). */
  profiledPid?: number;
  /** CPU seconds the server's processes used while every connection was opened. */
  openingCpu: number;
}

/**
 * Runs `measureOnce`, and once more if the server died: on a machine shared with others
 * building the same tree, a server can start from a half-written dist/.
 */
async function measure(spec: ServerSpec, options: Omit<BenchOptions, 'url' | 'protocol'>, profileDir?: string): Promise<Measured> {
  try {
    return await measureOnce(spec, options, profileDir);
  } catch (error) {
    log(`${spec.label}: ${(error as Error).message.split('\n')[0]}; running it again`);
    return measureOnce(spec, options, profileDir);
  }
}

/** Starts the server fresh (with its Redis, for several nodes), runs one bench against it, and reads its CPU over the window. */
async function measureOnce(spec: ServerSpec, options: Omit<BenchOptions, 'url' | 'protocol'>, profileDir?: string): Promise<Measured> {
  const redis = spec.nodes ? await startRedisProcess() : undefined;
  // Cluster workers inherit the primary's node flags, so they write profiles too.
  const args = [...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), ...spec.args, ...(redis ? ['--redis', redis.url] : [])];
  const nodes = await Promise.all(Array.from({ length: spec.nodes ?? 1 }, () => startServerProcess(args)));
  const server = nodes[0]!;
  const stopAll = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()));
    await redis?.stop();
  };
  try {
    for (const node of nodes.slice(1)) server.pids.push(...node.pids);
    if (redis) server.pids.push(redis.pid);
    if (spec.conveyor) {
      for (const node of nodes) {
        const health = (await (await fetch(`http://127.0.0.1:${node.port}/health`)).json()) as { workers: { pid: number }[] };
        server.pids.push(...health.workers.map((w) => w.pid));
      }
    }
    const profiledPid = server.pids[nodes.length + (redis ? 1 : 0)] ?? server.pids[0]!;
    let cpuAtOpening = 0;
    let openingCpu = 0;
    let cpuAtStart = 0;
    let wallAtStart = 0;
    let serverCores = 0;
    const url = nodes.map((node) => `ws://127.0.0.1:${node.port}`).join(',');
    const result = await runBench(
      { ...options, url, protocol: spec.protocol, ...(spec.pusherApp ? { pusherApp: spec.pusherApp } : {}), ...(spec.action ? { action: spec.action } : {}), ack: spec.ack ?? false },
      {
        onOpening: (edge) => {
          if (edge === 'start') cpuAtOpening = cpuSeconds(server.pids);
          else openingCpu = cpuSeconds(server.pids) - cpuAtOpening;
        },
        onWindow: (edge) => {
          if (edge === 'start') {
            cpuAtStart = cpuSeconds(server.pids);
            wallAtStart = performance.now();
          } else serverCores = (cpuSeconds(server.pids) - cpuAtStart) / Math.max(0.001, (performance.now() - wallAtStart) / 1000);
        },
      },
    );
    return { result, serverCores, profiledPid, openingCpu };
  } finally {
    await stopAll();
  }
}

/** A redis-server of the run's own, on a free port, without persistence. */
async function startRedisProcess(): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const probe = createNetServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => (socket.end(), resolve(true))).on('error', () => resolve(false));
    });
    if (up) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    },
  };
}

const selected = new Set(argv.servers.split(',').map((s) => s.trim()));
const unknown = [...selected].filter((key) => !SERVERS.some((s) => s.key === key));
if (unknown.length > 0) {
  log(`bench:compare: unknown server ${unknown.join(', ')}; choose from ${SERVERS.map((s) => s.key).join(', ')}`);
  process.exit(2);
}
if (!existsSync(argv.conveyor)) {
  log(`bench:compare: --conveyor ${argv.conveyor} does not exist; build it (npm run build) or name a conveyor.js CLI`);
  process.exit(2);
}
const servers = allServers(argv.conveyor).filter((s) => selected.has(s.key));
const fanout = (overrides: Partial<BenchOptions>): Omit<BenchOptions, 'url' | 'protocol'> => ({
  ...DEFAULT_OPTIONS,
  scenario: 'fanout',
  connections: argv.connections,
  channels: 1,
  publishers: 1,
  payload: argv.payload,
  duration: argv.duration,
  timeout: 3,
  ...overrides,
});

function write(summary: CompareSummary): void {
  mkdirSync(argv['out-dir'], { recursive: true });
  writeFileSync(join(argv['out-dir'], 'benchmarks.md'), renderReport(summary));
  writeFileSync(join(argv['out-dir'], 'benchmarks.svg'), renderChart(summary));
  process.stdout.write(`${summary.budget.map((b) => `${b.met === undefined ? '–' : b.met ? 'met   ' : 'MISSED'} ${b.line}: ${b.measured} (target ${b.target})`).join('\n')}\n`);
}

async function main(): Promise<void> {
  if (argv['from-json']) {
    const summary = JSON.parse(readFileSync(argv['from-json'], 'utf8')) as CompareSummary;
    const profiles = new Map(summary.budget.filter((b) => b.profile).map((b) => [b.line, b.profile!]));
    summary.budget = budget(summary).map((b) => (profiles.has(b.line) ? { ...b, profile: profiles.get(b.line)! } : b));
    write(summary);
    log(`wrote ${join(argv['out-dir'], 'benchmarks.md')} and benchmarks.svg from ${argv['from-json']}`);
    return;
  }
  for (const spec of servers.filter((s) => s.args.some((arg) => arg.endsWith('soketi-server.js'))).slice(0, 1)) {
    const installed = spawnSync(process.execPath, [spec.args[0]!, '--install-only'], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (installed.status !== 0) throw new BenchRunError(`${spec.label} could not be installed; leave it out with --servers`);
  }
  const started = Date.now();
  const loadBefore = loadavg().map((l) => Math.round(l * 100) / 100);
  const runs = new Map<string, RunStats[]>();
  const total = argv.rounds * servers.length * REGIMES.length;
  let done = 0;

  for (let round = 1; round <= argv.rounds; round++) {
    // Rotate the order each round, so no server always runs right after the heaviest one.
    const order = servers.map((_, i) => servers[(i + round - 1) % servers.length]!);
    for (const spec of order) {
      for (const regime of REGIMES) {
        const { result, serverCores } = await measure(spec, fanout(regime.options));
        const stats = runStats(round, result, serverCores);
        const key = `${spec.key}/${regime.key}`;
        runs.set(key, [...(runs.get(key) ?? []), stats]);
        done++;
        log(
          `[${done}/${total}] ${spec.label}, ${regime.label}: ${short(stats.delivered)}/s delivered, server ${stats.serverCores} cores, ` +
            `generator ${stats.generatorCores} cores${stats.generatorSaturated ? ' (SATURATED)' : ''}${stats.problems ? `, ${whole(stats.problems)} lost or errors` : ''}`,
        );
      }
    }
  }
  const rows: ServerRow[] = servers.map((server) => ({
    server,
    regimes: REGIMES.map((regime) => regimeStats(regime, runs.get(`${server.key}/${regime.key}`)!)),
  }));
  const partial = { rows };

  // Latency, open loop, publishes spread one by one: at half of Conveyor's best rate, and
  // at a light load that shows the machine's own floor (a fanout to every subscriber).
  const latency: LatencyRun[] = [];
  const conveyorMax = Math.max(bestRate(partial, 'conveyor-1', 'one-by-one'), bestRate(partial, 'conveyor-1', 'batched'));
  const halfRate = Math.max(1, Math.round(conveyorMax / 2 / argv.connections));
  // Half of the maximum, in the regime the maximum came from; the light load one by one.
  const maxRegime = REGIMES.find((r) => bestRate(partial, 'conveyor-1', r.key) === conveyorMax) ?? REGIMES[1]!;
  const loads = [
    { load: 'half of Conveyor --workers 1', rate: halfRate, batch: maxRegime.options.batch },
    { load: 'light', rate: LIGHT_RATE, batch: 1 },
  ];
  for (let round = 1; round <= argv.rounds; round++) {
    for (const { load, rate, batch } of loads) {
      for (const spec of servers.filter((s) => s.key === 'uws' || s.key === 'conveyor-1' || s.key === 'conveyor-2')) {
        const { result, serverCores } = await measure(spec, fanout({ rate, batch, duration: Math.max(argv.duration, 5), timeout: 5 }));
        const l = result.latency;
        latency.push({
          server: spec.label,
          load,
          round,
          rate,
          batch,
          offered: result.offeredPerSecond,
          delivered: result.deliveredPerSecond,
          p50: l?.p50 ?? NaN,
          p90: l?.p90 ?? NaN,
          p99: l?.p99 ?? NaN,
          p999: l?.p999 ?? NaN,
          max: l?.max ?? NaN,
          sendLagP99: result.sendLag?.p99 ?? 0,
          problems: result.lost + result.lostToClosed + result.timeouts + result.errors,
          serverCores: Math.round(serverCores * 100) / 100,
          generatorBusiest: Math.max(0, ...result.generator.threads.map((t) => t.busy)),
          generatorSaturated: result.generator.saturated,
        });
        log(`[latency ${round}/${argv.rounds}] ${spec.label}, ${load} (${short(result.offeredPerSecond)}/s deliveries): p50 ${l?.p50} ms, p99 ${l?.p99} ms, max ${l?.max} ms`);
      }
    }
  }

  // Memory of idle connections.
  const idle: IdleRun[] = [];
  const idleOptions: Omit<BenchOptions, 'url' | 'protocol'> = {
    ...DEFAULT_OPTIONS,
    scenario: 'idle',
    connections: argv['idle-connections'],
    duration: 5,
    concurrency: 500,
    handshakeTimeout: 30,
  };
  if (argv['idle-connections'] > 0) {
    const idleServers = servers.filter((s) => s.key === 'conveyor-1' || s.key === 'uws' || s.key === 'conveyor-pusher');
    const idleRuns = new Map<string, IdleRun[]>();
    for (let round = 1; round <= IDLE_ROUNDS; round++) {
      for (const spec of idleServers) {
        const { result, openingCpu } = await measure(spec, idleOptions);
        const memory = result.memory;
        idleRuns.set(spec.key, [
          ...(idleRuns.get(spec.key) ?? []),
          {
            server: spec.label,
            requested: result.connections.requested,
            open: result.connections.open,
            failed: result.connections.failed,
            handshakesPerSecond: result.handshakes.perSecond,
            handshakesPerServerSecond: openingCpu > 0.01 ? Math.round(result.connections.open / openingCpu) : 0,
            rssBefore: memory?.before ?? NaN,
            rssEnd: memory?.end ?? NaN,
            perConnection: memory?.perConnection ?? NaN,
          },
        ]);
        log(`[idle ${round}/${IDLE_ROUNDS}] ${spec.label}: ${whole(result.connections.open)} open, ${whole(result.handshakes.perSecond)} handshakes/s, ${memory ? `${whole(memory.perConnection)} B RSS per connection` : 'RSS unknown'}`);
      }
    }
    for (const spec of idleServers) idle.push(medianIdle(idleRuns.get(spec.key)!));
  }

  const summary: CompareSummary = {
    startedAt: new Date(started).toISOString(),
    seconds: Math.round((Date.now() - started) / 1000),
    machine: machine(loadBefore),
    rounds: argv.rounds,
    duration: argv.duration,
    connections: argv.connections,
    payload: argv.payload,
    threads: DEFAULT_OPTIONS.threads,
    command: argv.conveyor === CONVEYOR_CLI ? 'npm run bench:compare' : `npm run bench:compare -- --conveyor ${argv.conveyor}`,
    conveyorCli: argv.conveyor,
    benchCommands: [
      ...REGIMES.map((regime) => ({ label: `fanout, ${regime.label}`, command: commandLine({ ...fanout(regime.options), url: 'ws://127.0.0.1:PORT', protocol: 'conveyor' }) })),
      ...servers
        .filter((spec) => spec.action !== undefined || spec.ack)
        .map((spec) => ({
          label: `${spec.label}, batched`,
          command: commandLine({
            ...fanout(REGIMES[1]!.options),
            url: 'ws://127.0.0.1:PORT',
            protocol: spec.protocol,
            ...(spec.pusherApp ? { pusherApp: spec.pusherApp } : {}),
            ...(spec.action ? { action: spec.action } : {}),
            ack: spec.ack ?? false,
          }),
        })),
      ...loads.map(({ load, rate, batch }) => ({
        label: `latency, ${load}`,
        command: commandLine({ ...fanout({ rate, batch, duration: Math.max(argv.duration, 5) }), url: 'ws://127.0.0.1:PORT', protocol: 'conveyor' }),
      })),
      ...(argv['idle-connections'] > 0
        ? [{ label: 'idle memory', command: commandLine({ ...DEFAULT_OPTIONS, scenario: 'idle', connections: argv['idle-connections'], duration: 5, url: 'ws://127.0.0.1:PORT', protocol: 'conveyor' }) }]
        : []),
    ],
    rows,
    latency,
    idle,
    budget: [],
  };
  summary.budget = budget(summary);
  await profileMissed(summary.budget, idleOptions);
  // Every number, for whoever wants more than the tables (dist/ is build output, not committed).
  writeFileSync(join(REPO, 'dist', 'benchmarks.json'), JSON.stringify(summary, null, 2));
  write(summary);
  log(`wrote ${join(argv['out-dir'], 'benchmarks.md')} and benchmarks.svg in ${summary.seconds} s`);
}

/**
 * Runs each missed line's server once more under `node --cpu-prof` and keeps where its event
 * worker spent the time: the report's answer to why a line is missed. Profiling slows a
 * process, so these runs measure nothing else.
 */
async function profileMissed(lines: BudgetLine[], idleOptions: Omit<BenchOptions, 'url' | 'protocol'>): Promise<void> {
  for (const line of lines.filter((b) => b.met === false && b.profileTarget)) {
    const spec = servers.find((s) => s.key === line.profileTarget!.server);
    if (!spec) continue;
    const run = line.profileTarget!.run;
    const dir = mkdtempSync(join(tmpdir(), 'conveyor-profile-'));
    try {
      const { profiledPid } = await measure(spec, run === 'batched' ? fanout(REGIMES[1]!.options) : idleOptions, dir);
      const file = profiledPid === undefined ? undefined : profileOf(dir, profiledPid);
      if (!file) {
        log(`[profile] ${spec.label}: no profile was written`);
        continue;
      }
      const summary: ProfileSummary = summarizeCpuProfile(file);
      line.profile = { server: spec.label, run: run === 'batched' ? 'fanout, batched' : `a storm of ${whole(idleOptions.connections)} handshakes`, summary };
      log(`[profile] ${spec.label}, ${line.profile.run}: busy ${Math.round(summary.busy * 100)}%, top ${summary.top.slice(0, 3).map((e) => `${e.name} ${Math.round(e.self * 100)}%`).join(', ')}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/**
 * The budget's rate lines are judged on the batched maximum (what each server can do at
 * most); one by one is shown beside it. Latency is judged on the best run, since other
 * work on the machine only ever adds to it; the worst run is shown beside it.
 */
function budget(summary: CompareSummary): BudgetLine[] {
  const lines: BudgetLine[] = [];
  const pct = (n: number): string => `${Math.round(n * 100)}%`;
  const stats = (server: string, regime: 'one-by-one' | 'batched'): RunStats | undefined =>
    summary.rows.find((r) => r.server.key === server)?.regimes.find((g) => g.regime.key === regime)?.best;
  /**
   * Compares two servers' best batched runs. When the generator saturated in either, the
   * delivered rates compare the generator with itself; then the rates per server core,
   * which count only the servers' own CPU, decide.
   */
  const compare = (a: string, b: string): { ratio: number; text: string } | undefined => {
    const x = stats(a, 'batched');
    const y = stats(b, 'batched');
    if (!x || !y || !y.delivered || !y.perServerCore) return undefined;
    const oneA = stats(a, 'one-by-one');
    const oneB = stats(b, 'one-by-one');
    const oneByOne = oneA && oneB && oneB.delivered ? `; one by one ${short(oneA.delivered)}/s vs ${short(oneB.delivered)}/s` : '';
    if (x.generatorSaturated || y.generatorSaturated) {
      return {
        ratio: x.perServerCore / y.perServerCore,
        text: `per server core ${short(x.perServerCore)}/s vs ${short(y.perServerCore)}/s = RATIO (delivered ${short(x.delivered)}/s vs ${short(y.delivered)}/s, the generator saturated${oneByOne})`,
      };
    }
    return { ratio: x.delivered / y.delivered, text: `${short(x.delivered)}/s vs ${short(y.delivered)}/s = RATIO (per server core ${short(x.perServerCore)}/s vs ${short(y.perServerCore)}/s${oneByOne})` };
  };
  /**
   * A line comparing server `a` with `b` (batched, see compare): a goal of at least `min`
   * (a share, or a multiple with `times`), or none, only reported. A missed goal is profiled
   * on `a`, the Conveyor side.
   */
  const rateLine = (line: string, a: string, b: string, goal?: { min: number; times?: boolean }): void => {
    const c = compare(a, b);
    if (!c) return;
    const shown = goal?.times ? `${c.ratio.toFixed(1)}×` : pct(c.ratio);
    lines.push({
      line,
      target: goal ? (goal.times ? `≥ ${goal.min}×` : `≥ ${Math.round(goal.min * 100)}%`) : 'reported (no goal)',
      measured: c.text.replace('RATIO', shown),
      met: goal ? c.ratio >= goal.min : undefined,
      ...(goal ? { profileTarget: { server: a, run: 'batched' as const } } : {}),
    });
  };
  rateLine('Conveyor --workers 1 vs the bare uWS publish rate', 'conveyor-1', 'uws', { min: 0.9 });
  rateLine('Conveyor --workers 1 vs the plain ws server', 'conveyor-1', 'ws', { min: 10, times: true });
  const half = summary.latency.filter((l) => l.server === 'Conveyor --workers 1' && l.load.startsWith('half'));
  if (half.length > 0) {
    const p99s = half.map((l) => l.p99);
    const floor = summary.latency.filter((l) => l.server.startsWith('bare uWS') && l.load === 'light').map((l) => l.p99);
    lines.push({
      line: "p99 latency at half of Conveyor's max delivered rate",
      target: '≤ 10 ms',
      measured: `${short(half[0]!.offered)}/s deliveries: p99 ${ms(Math.min(...p99s))} (worst run ${ms(Math.max(...p99s))})${floor.length ? `; bare uWS at a light load: p99 ${ms(Math.min(...floor))}` : ''}`,
      met: Math.min(...p99s) <= 10,
    });
  }
  for (const idle of summary.idle.filter((i) => i.server.startsWith('Conveyor'))) {
    lines.push({
      line: `${whole(idle.requested)} idle connections, ${idle.server}`,
      target: '≤ 2 KB server RSS per connection, all open',
      measured: `${whole(idle.open)} open, ${whole(idle.failed)} failed, ${(idle.perConnection / 1024).toFixed(2)} KB per connection${idle.runs && idle.runs.length > 1 ? ` (median of ${idle.runs.length} runs: ${idle.runs.map((r) => (r.perConnection / 1024).toFixed(2)).join(', ')} KB)` : ''}`,
      met: idle.open === idle.requested && idle.perConnection <= 2048,
    });
  }
  const storm = summary.idle.find((i) => i.server === SERVERS.find((s) => s.key === 'conveyor-1')!.label);
  const bareStorm = summary.idle.find((i) => i.server.startsWith('bare uWS'));
  if (storm && bareStorm && bareStorm.handshakesPerSecond > 0) {
    // Like the rates: the generator opens the connections on one thread, so per server CPU second decides when it was measured.
    const perCpu = (storm.handshakesPerServerSecond ?? 0) > 0 && (bareStorm.handshakesPerServerSecond ?? 0) > 0;
    const ratio = perCpu ? storm.handshakesPerServerSecond! / bareStorm.handshakesPerServerSecond! : storm.handshakesPerSecond / bareStorm.handshakesPerSecond;
    const medians = storm.runs && storm.runs.length > 1 ? `, medians of ${storm.runs.length} storms of ${whole(storm.requested)} handshakes each` : '';
    lines.push({
      line: 'Handshakes per second in a storm, Conveyor --workers 1 vs bare uWS',
      target: '≥ 90%',
      measured: perCpu
        ? `per server CPU second ${whole(storm.handshakesPerServerSecond!)} vs ${whole(bareStorm.handshakesPerServerSecond!)} = ${pct(ratio)} (${whole(storm.handshakesPerSecond)}/s vs ${whole(bareStorm.handshakesPerSecond)}/s over the storm${medians})`
        : `${whole(storm.handshakesPerSecond)}/s vs ${whole(bareStorm.handshakesPerSecond)}/s = ${pct(ratio)}${medians}`,
      met: ratio >= 0.9,
      profileTarget: { server: 'conveyor-1', run: 'storm' },
    });
  }
  rateLine('Conveyor --workers 2 (cross-worker fanout) vs --workers 1', 'conveyor-2', 'conveyor-1', { min: 0.7 });
  rateLine('Conveyor, 2 nodes over Redis (subscribers on both) vs 1 node', 'conveyor-2-nodes', 'conveyor-1', { min: 0.7 });
  rateLine('Conveyor --history 1000 vs history off', 'conveyor-history', 'conveyor-1');
  rateLine('fanout-action vs broadcast-action, batched', 'conveyor-fanout-action', 'conveyor-1', { min: 0.5 });
  const fanoutOne = stats('conveyor-fanout-action', 'one-by-one');
  const broadcastOne = stats('conveyor-1', 'one-by-one');
  if (fanoutOne && broadcastOne && broadcastOne.delivered) {
    const ratio = fanoutOne.delivered / broadcastOne.delivered;
    lines.push({
      line: 'fanout-action vs broadcast-action, one by one',
      target: '≥ 90%',
      measured: `${short(fanoutOne.delivered)}/s vs ${short(broadcastOne.delivered)}/s = ${pct(ratio)} (per server core ${short(fanoutOne.perServerCore)}/s vs ${short(broadcastOne.perServerCore)}/s)`,
      met: ratio >= 0.9,
      profileTarget: { server: 'conveyor-fanout-action', run: 'batched' },
    });
  }
  rateLine('Conveyor --ack (receivers acknowledge every frame) vs acknowledgments off', 'conveyor-ack', 'conveyor-1', { min: 0.5 });
  rateLine('The floor: bare uWS reading one acknowledgment per delivery vs bare uWS', 'uws-ack', 'uws');
  rateLine('Conveyor --ack vs that floor (bare uWS, acknowledged)', 'conveyor-ack', 'uws-ack');
  rateLine('Conveyor Pusher mode vs Soketi 1.6.1, client events', 'conveyor-pusher', 'soketi', { min: 10, times: true });
  rateLine('Conveyor Pusher mode (client events) vs native broadcast, same load', 'conveyor-pusher', 'conveyor-1', { min: 0.9 });
  rateLine('Conveyor Pusher mode vs Soketi 1.6.1, HTTP API events', 'conveyor-pusher-http', 'soketi-http', { min: 10, times: true });
  rateLine('Conveyor Pusher HTTP API vs native HTTP publishing, same load', 'conveyor-pusher-http', 'conveyor-http', { min: 0.9 });
  rateLine('Conveyor Pusher HTTP API vs native broadcast-action over sockets', 'conveyor-pusher-http', 'conveyor-1');
  return lines;
}

main().catch((error: unknown) => {
  if (error instanceof BenchOptionError || error instanceof BenchRunError) {
    log(`bench:compare: ${error.message}`);
    process.exit(1);
  }
  throw error;
});
