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
  main { width: min(760px, 96vw); background: #fff; border-radius: 12px; box-shadow: 0 4px 24px #0001; padding: 20px 24px; }
  h1 { font-size: 1.3rem; margin: 0 0 4px; }
  .status { font-size: .85rem; color: #5b6578; margin-bottom: 14px; }
  .status b { color: #0a7d38; } .status b.down { color: #b3261e; }
  form { display: flex; gap: 8px; margin-bottom: 12px; }
  input { flex: 1; padding: 8px 10px; border: 1px solid #c9d0dc; border-radius: 8px; font-size: .95rem; }
  button { padding: 8px 14px; border: 0; border-radius: 8px; background: #2f5bea; color: #fff; font-size: .95rem; cursor: pointer; }
  #send-form { margin: 12px 0 0; }
  .panes { display: grid; grid-template-columns: 1fr 180px; gap: 12px; }
  #messages { list-style: none; margin: 0; padding: 10px; height: 300px; overflow-y: auto; border: 1px solid #e3e7ee; border-radius: 8px; }
  #messages li { padding: 3px 0; } #messages .me { color: #2f5bea; } #messages .sys { color: #8a93a5; font-style: italic; }
  aside { border: 1px solid #e3e7ee; border-radius: 8px; padding: 10px; }
  aside h2 { font-size: .85rem; margin: 0 0 6px; color: #5b6578; }
  #members { list-style: none; margin: 0; padding: 0; }
</style>
</head>
<body>
<main>
  <h1>Conveyor demo</h1>
  <div class="status">Connection: <b id="state" class="down">connecting</b> · fd <span id="fd">–</span> · channel <span id="current">none</span></div>
  <form id="join-form">
    <input id="name" placeholder="Your name" autocomplete="off" required>
    <input id="channel" placeholder="Channel" value="lobby-chat" required>
    <button id="join">Join</button>
  </form>
  <div class="panes">
    <ul id="messages" aria-live="polite"></ul>
    <aside><h2>Present (<span id="count">0</span>)</h2><ul id="members"></ul></aside>
  </div>
  <form id="send-form">
    <input id="text" placeholder="Message" autocomplete="off">
    <button id="send">Send</button>
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
  };
  const names = new Map();
  const client = new Conveyor({
    protocol: location.protocol === 'https:' ? 'wss' : 'ws',
    uri: location.hostname,
    port: Number(location.port || (location.protocol === 'https:' ? 443 : 80)),
    reconnect: true,
    reconnectDelay: 500,
    reconnectDelayMax: 10000,
  });
  const setState = (text, up) => { $('state').textContent = text; $('state').className = up ? '' : 'down'; };
  client.on('ready', () => { setState('open', true); $('fd').textContent = String(client.fd ?? '–'); });
  client.on('close', () => setState('closed', false));
  client.on('reconnecting', (attempt, delay) => { setState('reconnecting (attempt ' + attempt + ')', false); add('Connection lost; reconnecting in ' + Math.round(delay) + ' ms', 'sys'); });
  client.on('message', (data, fd, frame) => {
    if (frame.action !== 'broadcast-action') return;
    const message = typeof data === 'string' ? JSON.parse(data) : data;
    add((message.name ?? 'fd ' + fd) + ': ' + message.text);
  });
  client.on('presence', (p) => {
    $('fd').textContent = String(client.fd ?? '–');
    $('members').replaceChildren(...p.fds.map((fd) => {
      const li = document.createElement('li');
      li.textContent = (p.userIds[fd] ?? 'fd ' + fd) + (fd === client.fd ? ' (you)' : '');
      return li;
    }));
    $('count').textContent = String(p.fds.length);
    if (p.fd !== client.fd) add((p.userIds[p.fd] ?? 'fd ' + p.fd) + (p.kind === 'join' ? ' joined' : ' left'), 'sys');
  });
  $('join-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    client.assocUser($('name').value);
    try {
      await client.join($('channel').value);
      $('current').textContent = $('channel').value;
      add('Joined ' + $('channel').value, 'sys');
    } catch (error) {
      add('Could not join: ' + error.message, 'sys');
    }
  });
  $('send-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const text = $('text').value.trim();
    if (!text) return;
    client.send(JSON.stringify({ name: $('name').value || 'anonymous', text }), 'broadcast-action');
    add('me: ' + text, 'me');
    $('text').value = '';
  });
</script>
</body>
</html>
`;
