import type { ProfileSummary } from '../../src/bench/cpu-profile.js';
import type { BenchResult } from '../../src/bench/run-bench.js';
import type { Regime, ServerSpec } from './compare-plan.js';

/** One fanout run of one server, as the comparison keeps it. */
export interface RunStats {
  round: number;
  /** Deliveries per second over the sending window. */
  delivered: number;
  /** Cores of CPU the server's processes used over the window. */
  serverCores: number;
  /** Deliveries per second of server CPU: what the server would do with one core to itself. */
  perServerCore: number;
  generatorCores: number;
  /** Busiest generator thread's share of the window. */
  generatorBusiest: number;
  generatorSaturated: boolean;
  /** Lost, timed out, or errors: a healthy run has none. */
  problems: number;
  /** Deliveries asked for that are neither delivered nor counted as lost or timed out: always 0 unless the accounting is broken. */
  unaccounted: number;
  latencyP50: number | undefined;
  latencyP99: number | undefined;
}

export function runStats(round: number, result: BenchResult, serverCores: number): RunStats {
  const delivered = result.deliveredPerSecond;
  return {
    round,
    delivered,
    serverCores: Math.round(serverCores * 100) / 100,
    perServerCore: serverCores > 0.01 ? Math.round(delivered / serverCores) : 0,
    generatorCores: result.generator.cores,
    generatorBusiest: Math.max(0, ...result.generator.threads.map((t) => t.busy)),
    generatorSaturated: result.generator.saturated,
    problems: result.lost + result.lostToClosed + result.errors,
    unaccounted: result.expected - (result.delivered + result.lost + result.lostToClosed + result.timeouts),
    latencyP50: result.latency?.p50,
    latencyP99: result.latency?.p99,
  };
}

export interface RegimeStats {
  regime: Regime;
  runs: RunStats[];
  /** The run with the most deliveries: noise on a shared machine only ever lowers a rate. */
  best: RunStats;
  worst: RunStats;
}

export function regimeStats(regime: Regime, runs: RunStats[]): RegimeStats {
  const sorted = [...runs].sort((a, b) => b.delivered - a.delivered);
  return { regime, runs, best: sorted[0]!, worst: sorted[sorted.length - 1]! };
}

export interface ServerRow {
  server: ServerSpec;
  regimes: RegimeStats[];
}

export interface LatencyRun {
  server: string;
  load: string;
  round: number;
  /** Publishes per second, open loop. */
  rate: number;
  /** Publishes per write. */
  batch: number;
  offered: number;
  delivered: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  sendLagP99: number;
  problems: number;
  serverCores: number;
  /** Busiest generator thread's share of the window. */
  generatorBusiest: number;
  generatorSaturated: boolean;
}

export interface IdleRun {
  server: string;
  requested: number;
  open: number;
  failed: number;
  handshakesPerSecond: number;
  /** Handshakes per second of the server's CPU over the storm: what it would do with a core to itself. */
  handshakesPerServerSecond?: number;
  rssBefore: number;
  rssEnd: number;
  perConnection: number;
  /** Every run's figures, when there were several: the fields above are the median run's (handshakes/s its own median). */
  runs?: { perConnection: number; handshakesPerSecond: number }[];
}

export interface BudgetLine {
  line: string;
  target: string;
  measured: string;
  met: boolean | undefined;
  /** The run to profile when the line is missed: a server's batched fanout, or its handshake storm. */
  profileTarget?: { server: string; run: 'batched' | 'storm' };
  /** Where that server's event worker spent its time in that run, once profiled. */
  profile?: { server: string; run: string; summary: ProfileSummary };
}

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  packages: Record<string, string>;
  loadBefore: number[];
  loadAfter: number[];
}

export interface CompareSummary {
  startedAt: string;
  seconds: number;
  machine: Machine;
  rounds: number;
  duration: number;
  connections: number;
  payload: number;
  threads: number;
  command: string;
  /** The Conveyor CLI the Conveyor rows ran. */
  conveyorCli: string;
  benchCommands: { label: string; command: string }[];
  rows: ServerRow[];
  latency: LatencyRun[];
  idle: IdleRun[];
  budget: BudgetLine[];
}

/** Best rate of a server in a regime, or 0 when it was not run. */
export function bestRate(summary: Pick<CompareSummary, 'rows'>, serverKey: string, regime: Regime['key']): number {
  return summary.rows.find((r) => r.server.key === serverKey)?.regimes.find((g) => g.regime.key === regime)?.best.delivered ?? 0;
}
