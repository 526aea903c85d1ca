import type { LatencySummary } from './latency-histogram.js';
import type { BenchResult, ProgressSnapshot } from './run-bench.js';

/** 1234567 → "1,234,567". */
export const whole = (n: number): string => Math.round(n).toLocaleString('en-US');

/** 2_900_000 → "2.90M", 98_400 → "98.4k". */
export function short(n: number): string {
  const abs = Math.abs(n);
  if (abs >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (abs >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return whole(n);
}

export const ms = (value: number): string => `${value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : Math.round(value)} ms`;

export function bytes(n: number): string {
  const abs = Math.abs(n);
  if (abs >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  if (abs >= 1024) return `${(n / 1024).toFixed(2)} KB`;
  return `${Math.round(n)} B`;
}

/** A box-drawn table, columns sized to their widest cell. */
export function boxTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (l: string, m: string, r: string): string => l + widths.map((w) => '─'.repeat(w + 2)).join(m) + r;
  const row = (cells: string[]): string => '│' + widths.map((w, c) => ` ${(cells[c] ?? '').padEnd(w)} `).join('│') + '│';
  return [line('┌', '┬', '┐'), row(rows[0]!), line('├', '┼', '┤'), ...rows.slice(1).map(row), line('└', '┴', '┘')].join('\n');
}

function latencyTable(label: string, latency: LatencySummary | undefined): string {
  const head = ['Stat', 'p50', 'p90', 'p99', 'p99.9', 'max', 'mean', 'samples'];
  if (!latency) return boxTable([head, [label, ...head.slice(1).map(() => '–')]]);
  const { p50, p90, p99, p999, max, mean, count } = latency;
  return boxTable([head, [label, ms(p50), ms(p90), ms(p99), ms(p999), ms(max), ms(mean), whole(count)]]);
}

function describeLoad(r: BenchResult): string {
  const o = r.options;
  const rate = o.rate > 0 ? `${whole(o.rate)} msg/s` : `the maximum rate (closed loop, ${whole(o.window)} in flight)`;
  switch (r.scenario) {
    case 'fanout':
      return `${whole(o.connections)} subscribers over ${o.channels} channel${o.channels === 1 ? '' : 's'}, ${o.publishers} publisher${o.publishers === 1 ? '' : 's'} at ${rate}, batch ${o.batch}, ${o.payload} B, ${o.duration} s`;
    case 'echo':
      return `${whole(o.connections)} clients at ${rate} in total, batch ${o.batch}, ${o.payload} B, ${o.duration} s`;
    case 'connect':
      return `${whole(o.connections)} connections, ${o.concurrency} handshakes in flight`;
    case 'idle':
      return `${whole(o.connections)} idle connections held for ${o.duration} s`;
  }
}

function generatorLine(r: BenchResult): string {
  const busy = r.generator.threads.map((t) => `${t.role} ${Math.round(t.busy * 100)}%`).join(', ');
  const line = `Generator: ${r.generator.cores} cores of CPU; event loops busy: ${busy}.`;
  if (!r.generator.saturated) return line;
  return `${line}\nWARNING: the generator itself saturated a core (a thread busy 90%+ of the window): the server may be faster than these numbers. Give the generator more --threads or its own machine.`;
}

/** The autocannon-style report of one run. */
export function formatReport(r: BenchResult): string {
  const what = [r.options.protocol, r.options.action === 'fanout' ? 'fanout-action' : r.options.action === 'http' ? 'HTTP publishing' : undefined, r.options.ack ? 'acknowledged' : undefined]
    .filter((part) => part !== undefined)
    .join(', ');
  const out: string[] = [`conveyor bench ${r.scenario} ${r.options.url} (${what})`, describeLoad(r), ''];
  if (r.scenario === 'fanout' || r.scenario === 'echo') {
    out.push(latencyTable('Latency', r.latency), '');
    const offered = r.offeredPerSecond > 0 ? short(r.offeredPerSecond) : '–';
    out.push(
      boxTable([
        ['Stat', 'Total', 'Per second'],
        ['Sent', whole(r.sent), short(r.sentPerSecond)],
        [r.scenario === 'fanout' ? 'Delivered' : 'Echoed', whole(r.delivered), `${short(r.deliveredPerSecond)} (offered ${offered})`],
        ['Expected', whole(r.expected), ''],
        ['Lost (skipped)', whole(r.lost), ''],
        ['Lost (closed)', whole(r.lostToClosed), ''],
        ['Timeouts', whole(r.timeouts), ''],
        ...(r.repeated > 0 ? [['Repeated (re-sent)', whole(r.repeated), '']] : []),
        ['Errors', whole(r.errors), ''],
      ]),
    );
    if (r.sendLag && r.sendLag.p99 >= 1) out.push(`Send lag p99 ${ms(r.sendLag.p99)}: the generator sent late by that much; it counts in the latency above.`);
  } else {
    out.push(latencyTable('Handshake', r.handshakes.latency), '');
    const rows = [
      ['Stat', 'Value'],
      ['Open', `${whole(r.connections.open)} of ${whole(r.connections.requested)}`],
      ['Failed', whole(r.connections.failed)],
      ['Handshakes/s', whole(r.handshakes.perSecond)],
      ['Errors', whole(r.errors)],
    ];
    if (r.memory) {
      rows.push(['Server RSS before', bytes(r.memory.before)], ['Server RSS after open', bytes(r.memory.afterOpen)], ['Server RSS at end', bytes(r.memory.end)]);
      rows.push(['RSS per connection', bytes(r.memory.perConnection)]);
    } else if (r.scenario === 'idle') rows.push(['Server RSS', 'unknown: the server answered no JSON `rss` at --health-url']);
    out.push(boxTable(rows));
  }
  if (r.errorSamples.length > 0) out.push('Errors seen:', ...r.errorSamples.map((e) => `  ${e}`));
  out.push(generatorLine(r));
  return out.join('\n');
}

/** One line of progress while a run goes. */
export function formatProgress(p: ProgressSnapshot): string {
  const clock = p.planned > 0 ? `${Math.floor(p.elapsed)}/${p.planned} s` : `${Math.floor(p.elapsed)} s`;
  switch (p.phase) {
    case 'opening':
      return `[opening ${clock}] open ${whole(p.open)}, failed ${whole(p.failed)}`;
    case 'holding':
      return `[holding ${clock}] open ${whole(p.open)}, errors ${whole(p.errors)}`;
    default:
      return `[${p.phase} ${clock}] sent ${short(p.sentPerSecond)}/s, delivered ${short(p.deliveredPerSecond)}/s (total ${whole(p.delivered)}), errors ${whole(p.errors)}`;
  }
}
