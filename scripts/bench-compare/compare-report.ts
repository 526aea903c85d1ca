import { DEFAULT_OPTIONS } from '../../src/bench/bench-options.js';
import { REGIMES } from './compare-plan.js';
import { bestRate, type CompareSummary, type LatencyRun, type RegimeStats } from './compare-results.js';
import { bytes, ms, short, whole } from '../../src/bench/report-table.js';

const table = (rows: string[][]): string =>
  [`| ${rows[0]!.join(' | ')} |`, `|${rows[0]!.map(() => '---').join('|')}|`, ...rows.slice(1).map((r) => `| ${r.join(' | ')} |`)].join('\n');

const ratio = (value: number, limit: number): string => (limit > 0 ? `${(value / limit).toFixed(value / limit < 0.1 ? 3 : 2)}` : '–');
const spread = (g: RegimeStats): string => (g.runs.length > 1 ? ` (${short(g.worst.delivered)}–${short(g.best.delivered)})` : '');
const mark = (met: boolean | undefined): string => (met === undefined ? '–' : met ? 'met' : '**missed**');

function machineSection(s: CompareSummary): string {
  const m = s.machine;
  return [
    '## Machine',
    '',
    `- ${m.cores} × ${m.cpu}, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}`,
    `- ${Object.entries(m.packages).map(([name, version]) => `${name} ${version}`).join(', ')}`,
    `- Shared with other work while it ran: load average ${m.loadBefore.join(' / ')} at the start, ${m.loadAfter.join(' / ')} at the end (1 / 5 / 15 min).`,
    `- Run ${s.startedAt}, ${s.seconds} s in all.`,
  ].join('\n');
}

const percent = (share: number): string => `${(share * 100).toFixed(share < 0.1 ? 1 : 0)}%`;

/** For every missed line that was profiled: where the server's event worker spent its time. */
function profilesSection(s: CompareSummary): string {
  const profiled = s.budget.filter((b) => b.met === false && b.profile);
  if (profiled.length === 0) return '';
  return [
    '## Profiles of the missed lines',
    '',
    "Each missed line's Conveyor server was run once more under `node --cpu-prof` (which slows it, so these runs measure nothing else). The tables show where its event worker spent its busy time: a function's own time, and its time with what it called. `(program)` is time in native code outside JavaScript: uWebSockets.js's C++ and the kernel's `send()` and `recv()`.",
    ...profiled.flatMap((b) => {
      const { server, run, summary } = b.profile!;
      return [
        '',
        `**${b.line}**: ${server}, ${run}; the worker was busy ${percent(summary.busy)} of the run.`,
        '',
        table([['Function', 'Where', 'Own time', 'With callees'], ...summary.top.map((e) => [`\`${e.name}\``, e.where || '–', percent(e.self), percent(e.total)])]),
      ];
    }),
  ].join('\n');
}

function fanoutSection(s: CompareSummary): string {
  const limitOne = bestRate(s, 'uws', 'one-by-one');
  const limitBatched = bestRate(s, 'uws', 'batched');
  const rows = [
    ['Server', 'one by one: delivered/s', '÷ limit', 'batched: delivered/s', '÷ limit', 'server CPU, batched', 'per server core, batched', 'generator CPU, batched'],
    ...s.rows.map((row) => {
      const [one, batched] = row.regimes as [RegimeStats, RegimeStats];
      const gen = `${batched.best.generatorCores} cores${batched.best.generatorSaturated ? ' (saturated)' : ''}`;
      return [
        row.server.label,
        `${short(one.best.delivered)}${spread(one)}`,
        ratio(one.best.delivered, limitOne),
        `${short(batched.best.delivered)}${spread(batched)}`,
        ratio(batched.best.delivered, limitBatched),
        `${batched.best.serverCores} cores`,
        `${short(batched.best.perServerCore)}/s`,
        gen,
      ];
    }),
  ];
  const problems = s.rows.flatMap((r) => r.regimes.flatMap((g) => g.runs.filter((run) => run.problems > 0).map((run) => `${r.server.label} (${g.regime.label}, round ${run.round}): ${whole(run.problems)}`)));
  const saturated = s.rows.flatMap((r) => r.regimes.filter((g) => g.best.generatorSaturated).map((g) => `${r.server.label} (${g.regime.label})`));
  // Runs saved before this count existed were not checked: say nothing rather than claim it.
  const checked = s.rows.every((r) => r.regimes.every((g) => g.runs.every((run) => typeof run.unaccounted === 'number')));
  const unaccounted = s.rows.flatMap((r) => r.regimes.flatMap((g) => g.runs.filter((run) => (run.unaccounted ?? 0) !== 0).map((run) => `${r.server.label} (${g.regime.label}, round ${run.round}): ${whole(run.unaccounted)}`)));
  return [
    '## Fanout: one channel, every subscriber gets every message',
    '',
    `${whole(s.connections)} subscribers in one channel, 1 publisher, ${s.payload}-byte payload (Conveyor: \`broadcast-action\` unless the row says otherwise; the baselines: their own equivalent; an HTTP row: one request per message). Two regimes, which differ only in how publishes reach the server:`,
    '',
    ...REGIMES.map((r) => `- **${r.label}**: ${r.note} (\`--rate ${r.options.rate} --batch ${r.options.batch} --window ${r.options.window}\`).`),
    '',
    `Delivered/s is the best of ${s.rounds} rounds, the range of all rounds in brackets. "÷ limit" divides by bare uWS in the same regime. Server CPU is what the server's processes used over the sending window (for Conveyor: the primary and its event workers), read from /proc; "per server core" divides the rate by it, an estimate of what the server does with a core to itself that noise from other processes barely moves.`,
    '',
    table(rows),
    '',
    saturated.length > 0
      ? `The generator saturated a thread (busy 90%+ of the window) in: ${saturated.join(', ')}. There the server may be faster than the rate shown; its per-core figure still holds.`
      : 'The generator never saturated a thread in the best runs.',
    (problems.length > 0 ? `\nRuns with lost messages or errors: ${problems.join('; ')}.` : '\nNo run lost a message or saw an error.') +
      (unaccounted.length > 0
        ? ` **Counts that do not add up** (sent × subscribers ≠ delivered + lost + timed out): ${unaccounted.join('; ')}.`
        : checked
          ? ' In every run, sent × subscribers = delivered + lost + timed out.'
          : ''),
    '',
    '![Fanout: delivered messages per second](benchmarks.svg)',
  ].join('\n');
}

function servers(s: CompareSummary): string {
  return ['The servers:', '', ...s.rows.map((r) => `- **${r.server.label}**: ${r.server.note}.`)].join('\n');
}

function budgetSection(s: CompareSummary): string {
  return [
    '## The performance budget',
    '',
    "Checked on every run of the comparison, same load, same run (a 2-core machine is the budget's reference). The rate lines are judged on the batched maximum, what each server can do at most, with one by one shown beside it; where the generator saturated, delivered rates would only compare the generator with itself, so the rates per server core decide. Latency is judged on the best run, with the worst beside it.",
    '',
    table([['Line', 'Target', 'Measured', ''], ...s.budget.map((b) => [b.line, b.target, b.measured, mark(b.met)])]),
  ].join('\n');
}

function latencySection(s: CompareSummary): string {
  if (s.latency.length === 0) return '';
  const groups = new Map<string, LatencyRun[]>();
  for (const run of s.latency) groups.set(`${run.load}\u0000${run.server}`, [...(groups.get(`${run.load}\u0000${run.server}`) ?? []), run]);
  const rows = [...groups.values()].map((runs) => {
    const best = runs.reduce((a, b) => (b.p99 < a.p99 ? b : a));
    const worst = Math.max(...runs.map((r) => r.p99));
    return [
      best.server,
      `${best.load}: ${whole(best.rate)} publishes/s${best.batch > 1 ? `, ${best.batch} per write` : ''}`,
      `${short(best.delivered)}/s of ${short(best.offered)}/s`,
      ms(best.p50),
      ms(best.p90),
      `**${ms(best.p99)}**`,
      runs.length > 1 ? ms(worst) : '–',
      ms(best.max),
      ms(best.sendLagP99),
      `${best.serverCores} cores`,
      `${Math.round(best.generatorBusiest * 100)}%`,
    ];
  });
  return [
    "## Latency at half of Conveyor's maximum",
    '',
    `Open loop: publishes are sent at their scheduled times whatever the server does, so latency includes any queueing (no coordinated omission); half of the maximum is run in the regime the maximum came from. Latency runs from the scheduled send time, carried in the message, to its arrival at each subscriber; "send lag" is how late the generator itself sent, already part of the latency. Receivers check their sockets every ${DEFAULT_OPTIONS.pace} µs while messages flow, which adds up to that much. The light load (${whole(s.latency.find((l) => l.load === 'light')?.rate ?? 0)} publishes/s) shows the floor: one fanout alone on an idle server. The best of ${s.rounds} runs is shown (other work on the machine only adds latency), with the worst p99 beside it.`,
    '',
    table([['Server', 'load', 'delivered', 'p50', 'p90', 'p99', 'p99, worst run', 'max', 'send lag p99', 'server CPU', 'generator busiest thread'], ...rows]),
  ].join('\n');
}

function idleSection(s: CompareSummary): string {
  if (s.idle.length === 0) return '';
  return [
    '## Idle connections',
    '',
    'Connections opened in a storm (500 handshakes in flight), then held idle for 5 s. RSS from the server\'s /health (Conveyor: primary plus workers), before the first connection and at the end; per connection, each process\'s growth (the primary\'s and each worker\'s, none counted below zero) divided by the open connections. Each server ran several times, interleaved: the table shows the median run, the median handshake rate, and every run\'s figures in brackets.',
    '',
    table([
      ['Server', 'open', 'failed', 'handshakes/s', 'per server CPU second', 'RSS before', 'RSS at end', 'per connection'],
      ...s.idle.map((i) => [
        i.server,
        whole(i.open),
        whole(i.failed),
        `${whole(i.handshakesPerSecond)}${i.runs && i.runs.length > 1 ? ` (${i.runs.map((r) => whole(r.handshakesPerSecond)).join(', ')})` : ''}`,
        i.handshakesPerServerSecond ? whole(i.handshakesPerServerSecond) : '–',
        bytes(i.rssBefore),
        bytes(i.rssEnd),
        `${bytes(i.perConnection)}${i.runs && i.runs.length > 1 ? ` (${i.runs.map((r) => bytes(r.perConnection)).join(', ')})` : ''}`,
      ]),
    ]),
  ].join('\n');
}

const regimeOf = (s: CompareSummary, server: string, regime: RegimeStats['regime']['key']): RegimeStats | undefined =>
  s.rows.find((r) => r.server.key === server)?.regimes.find((g) => g.regime.key === regime);

/** What the numbers say about where the time goes, drawn from this run's own figures. */
function findingsSection(s: CompareSummary): string {
  const paragraphs: string[] = [];
  // Per server core: at these rates the delivered figures may only measure the generator.
  const w1 = regimeOf(s, 'conveyor-1', 'batched')?.best.perServerCore ?? 0;
  const limit = regimeOf(s, 'uws', 'batched')?.best.perServerCore ?? 0;
  const inCallback = regimeOf(s, 'uws-in-callback', 'batched')?.best.perServerCore ?? 0;
  if (w1 && limit && inCallback && w1 / limit < 0.9 && w1 / inCallback < 2) {
    paragraphs.push(
      `**Conveyor pays one \`send()\` per message per subscriber.** Batched, per server core, Conveyor --workers 1 delivers ${Math.round((w1 / limit) * 100)}% of bare uWS and ${Math.round((w1 / inCallback) * 100)}% of the same bare server publishing inside the message callback. The two bare servers differ in one line, and Conveyor sits with the second: with this uWS build, a publish made inside a message callback is written while the sender's socket is corked, so uWS cannot cork the subscribers and every message costs one \`send()\` per subscriber; published after the callback returns, each subscriber's queued messages go out in one \`send()\` per event-loop turn. Publishing broadcasts once the callbacks returned is the fix this points to.`,
    );
  }
  const ackRun = regimeOf(s, 'conveyor-ack', 'batched')?.best;
  const ackFloor = regimeOf(s, 'uws-ack', 'batched')?.best;
  if (ackRun && ackFloor && limit && w1 && ackFloor.perServerCore > 0) {
    paragraphs.push(
      `**Acknowledged delivery has a floor of its own.** With \`--ack\` every delivery brings a frame back: 1,000 subscribers acknowledging one publish are 1,000 incoming WebSocket frames, each read, unmasked and handed to JavaScript by itself, against one outgoing publish that uWS copies into 1,000 sockets in C++. Bare uWS that only reads each acknowledgment and drops it delivers ${short(ackFloor.perServerCore)}/s per server core, ${Math.round((ackFloor.perServerCore / limit) * 100)}% of its rate without them; Conveyor --ack, which also tracks and re-sends, delivers ${short(ackRun.perServerCore)}/s per server core (${Math.round((ackRun.perServerCore / w1) * 100)}% of itself without acknowledgments, ${Math.round((ackRun.perServerCore / ackFloor.perServerCore) * 100)}% of that floor). No server that reads one frame per delivery can reach half its unacknowledged rate on this load; the protocol's one \`acknowledge-action\` per frame is the cost, and the line's profile shows what is left of Conveyor's own.`,
    );
  }
  const w1Batched = regimeOf(s, 'conveyor-1', 'batched');
  const w2Batched = regimeOf(s, 'conveyor-2', 'batched');
  if (w1Batched && w2Batched && w2Batched.best.perServerCore > 1.5 * w1Batched.best.perServerCore) {
    paragraphs.push(
      `**Why two workers beat one here.** Conveyor --workers 2 delivers ${short(w2Batched.best.perServerCore)}/s per server core against ${short(w1Batched.best.perServerCore)}/s for one worker. The subscribers of the second worker receive the broadcast through the primary, and that worker publishes it from an IPC message, outside any uWS callback, so its half is written once per turn; only the publisher's own worker pays one \`send()\` per message.`,
    );
  }
  const floor = regimeOf(s, 'uws', 'one-by-one');
  if (floor && floor.best.perServerCore > 0) {
    const micros = 1e6 / floor.best.perServerCore;
    paragraphs.push(
      `**The machine's floor.** One by one, every delivery is a \`send()\` of its own, and bare uWS spends ${micros.toFixed(1)} µs of CPU per delivery (on loopback the kernel runs the receiving side's TCP work inside the sender's \`send()\`). So one fanout to ${whole(s.connections)} subscribers costs about ${((micros * s.connections) / 1000).toFixed(0)} ms of one core before any server code runs, and the generator, reading the ${whole(s.connections)} sockets on the other core, needs about as long: the last subscriber hears of a publish that much later even on an idle server (the light-load rows), whatever the server.`,
    );
  }
  const saturated = s.rows.filter((r) => r.regimes.some((g) => g.regime.key === 'batched' && g.best.generatorSaturated)).map((r) => r.server.label);
  if (saturated.length > 0) {
    paragraphs.push(
      `**Where the generator is the limit.** Batched, the generator's receiving thread was busy 90% of the window or more with ${saturated.join(', ')}: on ${s.machine.cores} cores the server and the generator each take about one, and most of the generator's cost is the kernel's (a loopback \`recv()\` of each subscriber's batch), not its JavaScript. Those delivered rates compare the generator with itself; the rates per server core still compare the servers. Half of such a maximum also keeps the generator busy, so part of the latency measured there is the generator's (its busiest thread is in the latency table).`,
    );
  }
  return paragraphs.length === 0 ? '' : ['## Where the time goes', '', paragraphs.join('\n\n')].join('\n');
}

function methodSection(s: CompareSummary): string {
  return [
    '## How it was measured',
    '',
    '- One command, one process tree: `npm run bench:compare` starts each server fresh for every run (`node` child processes on free ports) and drives it with the same generator, in-process.',
    `- Rounds interleave the servers (the order rotates each round), so a noisy neighbour hurts them alike; the best round is reported because noise only ever lowers a rate, and the range shows how much noise there was.`,
    `- The generator is \`conveyor bench\` (src/bench): raw TCP sockets with a minimal frame scanner (server frames are unmasked), ${s.threads} receiving worker thread${s.threads === 1 ? '' : 's'} and one publishing thread; it reports when one of its threads was busy 90% of the window. Its measured costs: ~100 ns per received message of JavaScript; waking up per message costs far more on a small VM, so receivers pace their polls while messages flow.`,
    `- Cores: nothing is pinned. The server, the generator and whatever else ran on the machine shared all ${s.machine.cores} cores; the tables show how much CPU the server and the generator each took.`,
    '- Each message carries a stamp (send time, sender, sequence number); receivers count deliveries, gaps in each sender\'s sequence (lost), and what never arrived (timeouts); the fanout table says whether sent × subscribers = delivered + lost + timed out held in every run.',
    '',
    'The commands (PORT is the server\'s):',
    '',
    '```sh',
    s.command,
    ...s.benchCommands.map((c) => `# ${c.label}\n${c.command}`),
    '```',
  ].join('\n');
}

/** docs/benchmarks.md, written by `npm run bench:compare`. */
export function renderReport(s: CompareSummary): string {
  return `${[
    '# Benchmarks',
    '',
    `Written by \`${s.command}\`, which runs the same fanout load against Conveyor (one and two workers, two nodes over Redis, history on, \`fanout-action\`, acknowledgments on, HTTP publishing, and its Pusher mode with client events and with the HTTP API) and four servers for comparison: bare uWebSockets.js (the limit: no protocol, one topic), a plain \`ws\` server looping over its clients, Socket.IO with rooms, and Soketi 1.6.1 on the Pusher loads (private channels, publishes as client events or through the HTTP API). Numbers are from one machine and depend on it; the ratios between servers, measured in the same run, are what carries over.`,
    budgetSection(s),
    profilesSection(s),
    fanoutSection(s),
    servers(s),
    findingsSection(s),
    latencySection(s),
    idleSection(s),
    machineSection(s),
    methodSection(s),
  ]
    .filter((section) => section !== '')
    .join('\n\n')}\n`;
}
