import { demoStyles } from './demo-styles.js';

/**
 * The Pusher demo page: a presence chat on laravel-echo and pusher-js, as a Laravel page
 * would set them up, with the messages sent as whispers (client events). `APP_KEY` is
 * replaced by the key of the server's first Pusher app.
 */
export const PUSHER_DEMO_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Conveyor · Pusher demo</title>
${demoStyles('#6b3fe0', '#bcaee6', '  #typing { min-height: 1.2em; font-size: .8rem; color: #8a93a5; margin-top: 6px; }\n')}</head>
<body>
<main>
  <header>
    <h1>Conveyor · Pusher demo</h1>
    <span id="state" class="pill">connecting</span>
  </header>
  <p class="hint">laravel-echo on pusher-js, unchanged, against this server. Open the page twice,
    join the same room, and chat: messages are whispers, the member list is a presence channel.</p>
  <div class="status">socket <span id="socket">–</span> · room <span id="current">none</span></div>
  <form id="join-form">
    <input id="name" aria-label="Your name" placeholder="Your name" autocomplete="off" required>
    <input id="room" aria-label="Room" placeholder="Room" value="lobby" required>
    <button id="join">Join</button>
  </form>
  <div class="panes">
    <ul id="messages" aria-live="polite"></ul>
    <aside><h2>Present (<span id="count">0</span>)</h2><ul id="members"></ul></aside>
  </div>
  <div id="typing"></div>
  <form id="send-form">
    <input id="text" aria-label="Message" placeholder="Join a room, then say something" autocomplete="off">
    <button id="send" disabled>Send</button>
  </form>
</main>
<script type="module">
  import { Echo, Pusher } from '/demo/pusher-demo.js';
  const $ = (id) => document.getElementById(id);
  const add = (text, kind) => {
    const li = document.createElement('li');
    li.textContent = text;
    if (kind) li.className = kind;
    $('messages').append(li);
    $('messages').scrollTop = $('messages').scrollHeight;
  };
  // One id per tab: two tabs of one browser are two members.
  const userId = sessionStorage.getItem('demo-user') || crypto.randomUUID();
  sessionStorage.setItem('demo-user', userId);
  const secure = location.protocol === 'https:';
  const echo = new Echo({
    broadcaster: 'pusher',
    key: 'APP_KEY',
    cluster: 'conveyor',
    wsHost: location.hostname,
    wsPort: Number(location.port || (secure ? 443 : 80)),
    wssPort: Number(location.port || 443),
    forceTLS: secure,
    enabledTransports: ['ws', 'wss'],
    disableStats: true,
    Pusher,
    // Laravel's /broadcasting/auth: here the demo server signs for whoever asks.
    channelAuthorization: { endpoint: '/demo/pusher/auth', transport: 'ajax', paramsProvider: () => ({ user_id: userId, name: $('name').value.trim() || 'anonymous' }) },
  });
  const pusher = echo.connector.pusher;
  const setState = (text, up) => { $('state').textContent = text; $('state').className = up ? 'pill up' : 'pill'; };
  pusher.connection.bind('state_change', ({ current }) => setState(current, current === 'connected'));
  pusher.connection.bind('connected', () => { $('socket').textContent = pusher.connection.socket_id; });
  let room;
  let members = [];
  const showMembers = () => {
    $('count').textContent = String(members.length);
    $('members').replaceChildren(...members.map((m) => m.name + (m.id === userId ? ' (you)' : '')).sort((a, b) => a.localeCompare(b)).map((text) => {
      const li = document.createElement('li');
      li.textContent = text;
      return li;
    }));
  };
  let typingTimer;
  $('join-form').addEventListener('submit', (event) => {
    event.preventDefault();
    if (room) echo.leave($('current').textContent);
    const name = $('room').value.trim();
    room = echo.join(name)
      .here((list) => { members = list; showMembers(); add('Joined ' + name, 'sys'); $('send').disabled = false; $('current').textContent = name; })
      .joining((member) => { members = [...members.filter((m) => m.id !== member.id), member]; showMembers(); add(member.name + ' joined', 'sys'); })
      .leaving((member) => { members = members.filter((m) => m.id !== member.id); showMembers(); add(member.name + ' left', 'sys'); })
      .listenForWhisper('message', (message) => add(message.name + ': ' + message.text))
      .listenForWhisper('typing', (who) => {
        $('typing').textContent = who.name + ' is typing…';
        clearTimeout(typingTimer);
        typingTimer = setTimeout(() => { $('typing').textContent = ''; }, 1500);
      })
      .error((error) => add('Could not join: ' + JSON.stringify(error), 'sys'));
  });
  $('text').addEventListener('input', () => room && room.whisper('typing', { name: $('name').value.trim() }));
  $('send-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const text = $('text').value.trim();
    if (!text || !room) return;
    room.whisper('message', { name: $('name').value.trim() || 'anonymous', text });
    add('me: ' + text, 'me');
    $('text').value = '';
  });
</script>
</body>
</html>
`;
