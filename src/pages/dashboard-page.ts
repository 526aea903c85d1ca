/**
 * The live dashboard (--dashboard): one page that polls /conveyor/dashboard/stats every
 * second and draws the server's rates with uPlot, bundled from npm and served beside it.
 */
export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Conveyor dashboard</title>
<link rel="stylesheet" href="/conveyor/dashboard/uplot.css">
<style>
  :root { font-family: system-ui, sans-serif; color: #1d2433; background: #f4f6fa; }
  body { margin: 0; padding: 18px; }
  header { display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap; margin-bottom: 12px; }
  h1 { font-size: 1.25rem; margin: 0; }
  .pill { font-size: .8rem; padding: 3px 10px; border-radius: 999px; background: #fdecea; color: #b3261e; }
  .pill.up { background: #e6f4ea; color: #0a7d38; }
  .muted { color: #5b6578; font-size: .85rem; }
  .tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; margin-bottom: 12px; }
  .tile { background: #fff; border-radius: 10px; padding: 10px 12px; box-shadow: 0 2px 10px #0001; }
  .tile b { display: block; font-size: 1.4rem; margin-top: 2px; }
  .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr)); gap: 12px; }
  section { background: #fff; border-radius: 10px; padding: 10px 12px; box-shadow: 0 2px 10px #0001; }
  section h2 { font-size: .9rem; margin: 0 0 6px; color: #3b4356; }
  table { width: 100%; border-collapse: collapse; font-size: .85rem; }
  th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid #eef0f4; }
  td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
</style>
</head>
<body>
<header>
  <h1>Conveyor</h1>
  <span id="state" class="pill">connecting</span>
  <span class="muted" id="meta"></span>
</header>
<div class="tiles">
  <div class="tile">Connections<b id="t-connections">–</b></div>
  <div class="tile">Channels<b id="t-channels">–</b></div>
  <div class="tile">Frames received /s<b id="t-in">–</b></div>
  <div class="tile">Published /s<b id="t-out">–</b></div>
  <div class="tile">Memory<b id="t-rss">–</b></div>
  <div class="tile">Slow consumers closed<b id="t-slow">–</b></div>
  <div class="tile">Redis<b id="t-redis">–</b></div>
</div>
<div class="grid">
  <section><h2>Connections</h2><div id="c-connections"></div></section>
  <section><h2>Frames received and published per second</h2><div id="c-messages"></div></section>
  <section><h2>Memory (MB)</h2><div id="c-memory"></div></section>
  <section><h2>Refused or lost per second</h2><div id="c-trouble"></div></section>
  <section><h2>Workers</h2><table id="workers"><thead><tr><th>worker</th><th class="n">pid</th><th class="n">connections</th><th class="n">received /s</th><th class="n">published /s</th><th class="n">MB</th><th class="n">slow</th></tr></thead><tbody></tbody></table></section>
  <section><h2>Largest channels</h2><table id="channels"><thead><tr><th>channel</th><th>protocol</th><th class="n">members</th></tr></thead><tbody></tbody></table></section>
  <section><h2>Pusher apps</h2><table id="apps"><thead><tr><th>app</th><th class="n">connections</th><th class="n">channels</th></tr></thead><tbody></tbody></table></section>
</div>
<script type="module">
  import { uPlot } from '/conveyor/dashboard/uplot.js';
  const $ = (id) => document.getElementById(id);
  const token = new URLSearchParams(location.search).get('token');
  const url = '/conveyor/dashboard/stats' + (token ? '?token=' + encodeURIComponent(token) : '');
  const KEEP = 180;
  const series = { t: [], connections: [], channels: [], in: [], out: [], rss: [], slow: [], refused: [], givenUp: [] };
  // As wide as its card, on every resize: a fixed width left wide cards half empty.
  const widthOf = (id) => Math.max(200, $(id).clientWidth);
  const chart = (id, names, colors) => new uPlot({
    width: widthOf(id), height: 180, legend: { live: false },
    axes: [{}, { size: 60 }],
    series: [{}, ...names.map((label, i) => ({ label, stroke: colors[i], width: 2, points: { show: false } }))],
  }, [[], ...names.map(() => [])], $(id));
  const charts = {
    connections: chart('c-connections', ['connections', 'channels'], ['#2f5bea', '#0a7d38']),
    messages: chart('c-messages', ['received', 'published'], ['#6b3fe0', '#e0803f']),
    memory: chart('c-memory', ['RSS'], ['#5b6578']),
    trouble: chart('c-trouble', ['slow consumers', 'refused across workers', 'acks given up'], ['#b3261e', '#e0a03f', '#8a93a5']),
  };
  new ResizeObserver(() => {
    for (const [name, plot] of Object.entries(charts)) plot.setSize({ width: widthOf('c-' + name), height: 180 });
  }).observe(document.querySelector('.grid'));
  const sum = (rows, key) => rows.reduce((total, row) => total + (row[key] ?? 0), 0);
  let previous;
  const rows = (tbody, cells) => tbody.replaceChildren(...cells.map((row) => {
    const tr = document.createElement('tr');
    row.forEach((cell, i) => { const td = document.createElement('td'); td.textContent = String(cell); if (i > 0 && typeof cell === 'number') td.className = 'n'; tr.append(td); });
    return tr;
  }));
  async function poll() {
    let stats;
    try {
      const response = await fetch(url);
      if (!response.ok) throw new Error('HTTP ' + response.status);
      stats = await response.json();
    } catch (error) {
      $('state').textContent = 'unreachable: ' + error.message;
      $('state').className = 'pill';
      return;
    }
    $('state').textContent = 'live';
    $('state').className = 'pill up';
    const plural = (n, word) => n + ' ' + word + (n === 1 ? '' : 's');
    $('meta').textContent = plural(stats.workers.length, 'worker') + ' · ' + plural(stats.tasks.threads, 'task thread') + ' · updated ' + new Date(stats.at).toLocaleTimeString();
    const seconds = previous ? Math.max(0.001, (stats.at - previous.at) / 1000) : 1;
    const perWorker = new Map((previous?.workers ?? []).map((w) => [w.id, w]));
    const rate = (w, key) => { const before = perWorker.get(w.id); return before ? Math.max(0, (w[key] - before[key]) / seconds) : 0; };
    const total = (key) => previous ? Math.max(0, (sum(stats.workers, key) - sum(previous.workers, key)) / seconds) : 0;
    const t = stats.at / 1000;
    const push = (key, value) => { series[key].push(value); if (series[key].length > KEEP) series[key].shift(); };
    push('t', t);
    push('connections', stats.connections);
    // Native channels and every Pusher app's, as the list of largest channels shows both.
    const channels = stats.channels + sum(stats.pusherApps, 'channels');
    push('channels', channels);
    push('in', total('framesReceived'));
    push('out', total('framesPublished'));
    push('rss', stats.rss / 1048576);
    push('slow', total('slowConsumersClosed'));
    push('refused', total('ipcRefused'));
    push('givenUp', total('ackGivenUp'));
    charts.connections.setData([series.t, series.connections, series.channels]);
    charts.messages.setData([series.t, series.in, series.out]);
    charts.memory.setData([series.t, series.rss]);
    charts.trouble.setData([series.t, series.slow, series.refused, series.givenUp]);
    $('t-connections').textContent = stats.connections;
    $('t-channels').textContent = channels;
    $('t-in').textContent = Math.round(series.in.at(-1));
    $('t-out').textContent = Math.round(series.out.at(-1));
    $('t-rss').textContent = Math.round(stats.rss / 1048576) + ' MB';
    $('t-slow').textContent = sum(stats.workers, 'slowConsumersClosed');
    $('t-redis').textContent = stats.redis ?? 'not used';
    rows($('workers').tBodies[0], stats.workers.map((w) => [w.id, w.pid, w.connections, Math.round(rate(w, 'framesReceived')), Math.round(rate(w, 'framesPublished')), Math.round(w.rss / 1048576), w.slowConsumersClosed]));
    rows($('channels').tBodies[0], stats.largestChannels.map((c) => [c.channel, c.protocol + (c.app ? ' · ' + c.app : ''), c.members]));
    rows($('apps').tBodies[0], stats.pusherApps.map((a) => [a.id, a.connections, a.channels]));
    previous = stats;
  }
  await poll();
  setInterval(poll, 1000);
</script>
</body>
</html>
`;
