/** The demo chat page: one file, no build step, the client bundle loaded as a module. */
export const DEMO_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Conveyor demo</title>
<style>
  :root { font-family: system-ui, sans-serif; color: #1d2433; background: #f4f6fa; }
  body { margin: 0; display: grid; place-items: center; min-height: 100vh; }
  main { width: min(760px, 96vw); background: #fff; border-radius: 12px; box-shadow: 0 4px 24px #0001; padding: 20px 24px; box-sizing: border-box; }
  header { display: flex; align-items: baseline; justify-content: space-between; gap: 12px; flex-wrap: wrap; }
  h1 { font-size: 1.3rem; margin: 0; }
  .hint { font-size: .85rem; color: #5b6578; margin: 6px 0 14px; }
  .pill { font-size: .8rem; padding: 3px 10px; border-radius: 999px; background: #fdecea; color: #b3261e; }
  .pill.up { background: #e6f4ea; color: #0a7d38; }
  .status { font-size: .8rem; color: #5b6578; margin-bottom: 12px; }
  form { display: flex; gap: 8px; margin-bottom: 12px; }
  input { flex: 1; min-width: 0; padding: 8px 10px; border: 1px solid #c9d0dc; border-radius: 8px; font-size: .95rem; }
  button { padding: 8px 14px; border: 0; border-radius: 8px; background: #2f5bea; color: #fff; font-size: .95rem; cursor: pointer; }
  button:disabled { background: #aab6d6; cursor: default; }
  #send-form { margin: 12px 0 0; }
  .panes { display: grid; grid-template-columns: 1fr 180px; gap: 12px; }
  #messages { list-style: none; margin: 0; padding: 10px; height: 300px; overflow-y: auto; border: 1px solid #e3e7ee; border-radius: 8px; }
  #messages li { padding: 3px 0; overflow-wrap: anywhere; }
  #messages .me { color: #2f5bea; } #messages .sys { color: #8a93a5; font-style: italic; font-size: .9rem; }
  aside { border: 1px solid #e3e7ee; border-radius: 8px; padding: 10px; }
  aside h2 { font-size: .85rem; margin: 0 0 6px; color: #5b6578; }
  #members { list-style: none; margin: 0; padding: 0; }
  #members li { padding: 2px 0; }
  #members li::before { content: "● "; color: #0a7d38; font-size: .7rem; vertical-align: middle; }
  @media (max-width: 560px) { .panes { grid-template-columns: 1fr; } }
</style>
</head>
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
  });
  let reconnects = 0;
  // One line tells the story of an outage, updated in place, instead of one per attempt.
  let outage;
  const setState = (text, up) => { $('state').textContent = text; $('state').className = up ? 'pill up' : 'pill'; };
  const nameOf = (userIds, fd) => (userIds && userIds[fd]) || 'fd ' + fd;
  client.on('ready', () => {
    setState('connected', true);
    $('fd').textContent = String(client.fd ?? '–');
    if (!outage) return;
    outage = undefined;
    $('reconnects').textContent = String(++reconnects);
    add('Reconnected as fd ' + client.fd + (client.options.channel ? '; re-joined ' + client.options.channel : ''), 'sys');
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
