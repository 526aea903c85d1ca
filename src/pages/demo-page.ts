import { demoStyles } from './demo-styles.js';

/** The demo chat page: one file, no build step, the client bundle loaded as a module. */
export const DEMO_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Conveyor demo</title>
${demoStyles('#2f5bea', '#aab6d6')}</head>
<body>
<main>
  <header>
    <h1>Conveyor demo</h1>
    <span id="state" class="pill">connecting</span>
  </header>
  <p class="hint">Open this page in a second tab, join the same channel there, and chat.
    Restart the server to watch the client reconnect and re-join on its own.</p>
  <div class="status">fd <span id="fd">–</span> · channel <span id="current">none</span> · reconnects: <span id="reconnects">0</span></div>
  <form id="join-form">
    <input id="name" aria-label="Your name" placeholder="Your name" autocomplete="off" required>
    <input id="channel" aria-label="Channel" placeholder="Channel" value="lobby" required>
    <button id="join">Join</button>
  </form>
  <div class="panes">
    <ul id="messages" aria-live="polite"></ul>
    <aside><h2>Present (<span id="count">0</span>)</h2><ul id="members"></ul></aside>
  </div>
  <form id="send-form">
    <input id="text" aria-label="Message" placeholder="Join a channel, then say something" autocomplete="off">
    <button id="send" disabled>Send</button>
  </form>
</main>
<script type="module">
  import Conveyor from '/client/conveyor-client.js';
  const $ = (id) => document.getElementById(id);
  const add = (text, kind) => {
    const li = document.createElement('li');
    li.textContent = text;
    if (kind) li.className = kind;
    $('messages').append(li);
    $('messages').scrollTop = $('messages').scrollHeight;
    return li;
  };
  const client = new Conveyor({
    protocol: location.protocol === 'https:' ? 'wss' : 'ws',
    uri: location.hostname,
    port: Number(location.port || (location.protocol === 'https:' ? 443 : 80)),
    reconnect: true,
    reconnectDelay: 500,
    reconnectDelayMax: 8000,
    // With --history: the channel's last messages on joining.
    backlog: 50,
  });
  let reconnects = 0;
  // One line tells the story of an outage, updated in place, instead of one per attempt.
  let outage;
  const setState = (text, up) => { $('state').textContent = text; $('state').className = up ? 'pill up' : 'pill'; };
  const nameOf = (userIds, fd) => (userIds && userIds[fd]) || 'fd ' + fd;
  client.on('ready', () => setState('connected', true));
  // The fd comes in connection-info, after ready: a new one on every reconnect.
  client.on('fd', (fd) => {
    $('fd').textContent = String(fd);
    if (!outage) return;
    outage = undefined;
    $('reconnects').textContent = String(++reconnects);
    add('Reconnected as fd ' + fd + (client.options.channel ? '; re-joined ' + client.options.channel : ''), 'sys');
  });
  client.on('close', () => {
    setState('disconnected', false);
    if (!outage) outage = add('Connection lost', 'sys');
  });
  client.on('reconnecting', (attempt, delay) => {
    setState('reconnecting…', false);
    if (outage) outage.textContent = 'Connection lost; reconnecting, attempt ' + attempt + ' in ' + Math.round(delay) + ' ms';
  });
  // While reconnecting, the browser's errors only say that an attempt failed.
  client.on('error', (error) => { if (!outage) add('Error: ' + error.message, 'sys'); });
  client.on('message', (data, fd, frame) => {
    if (frame.action !== 'broadcast-action') return;
    let message;
    try { message = typeof data === 'string' ? JSON.parse(data) : data; } catch { message = undefined; }
    if (message && typeof message.text === 'string') add((message.name || 'fd ' + fd) + ': ' + message.text);
    else add('fd ' + fd + ': ' + (typeof data === 'string' ? data : JSON.stringify(data)));
  });
  // With --history the server says what a join brought back, and what was lost for good.
  client.on('recovery', (r) => {
    if (r.initial) {
      if (r.replayed > 0) add('Last ' + r.replayed + ' messages of ' + r.channel + ':', 'sys');
    } else if (r.recovered) {
      if (r.replayed > 0) add('Caught up: ' + r.replayed + ' messages sent while you were away', 'sys');
    } else {
      add(r.missed === undefined ? 'Some messages were lost while you were away (the history restarted)' : 'Missed ' + r.missed + ' messages while you were away', 'sys missed');
    }
  });
  client.on('presence', (p) => {
    $('count').textContent = String(p.count);
    const members = (p.fds ?? []).map((fd) => nameOf(p.userIds, fd) + (fd === client.fd ? ' (you)' : ''));
    $('members').replaceChildren(...members.sort((a, b) => a.localeCompare(b)).map((text) => {
      const li = document.createElement('li');
      li.textContent = text;
      return li;
    }));
    if (p.fd !== client.fd) add(nameOf(p.userIds, p.fd) + (p.kind === 'join' ? ' joined' : ' left'), 'sys');
  });
  $('join-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const channel = $('channel').value.trim();
    client.assocUser($('name').value.trim());
    try {
      await client.join(channel);
      $('current').textContent = channel;
      $('send').disabled = false;
      $('text').placeholder = 'Message to ' + channel;
      add('Joined ' + channel, 'sys');
      $('text').focus();
    } catch (error) {
      add('Could not join: ' + error.message, 'sys');
    }
  });
  $('send-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const text = $('text').value.trim();
    if (!text) return;
    client.send(JSON.stringify({ name: $('name').value.trim() || 'anonymous', text }), 'broadcast-action');
    add('me: ' + text, 'me');
    $('text').value = '';
  });
</script>
</body>
</html>
`;
