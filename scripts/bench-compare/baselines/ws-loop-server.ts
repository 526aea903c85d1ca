import { createServer } from 'node:http';
import { WebSocketServer, WebSocket } from 'ws';
import { announce, channelOf, exitOnSignals, healthBody, portFromArgs } from './baseline-cli.js';

/**
 * What most Node users write: the `ws` package and a loop over the channel's clients
 * (the broadcast example of the ws README, per channel). One send per recipient, each
 * framing the message again in JavaScript.
 */
const port = portFromArgs();
const channels = new Map<string, Set<WebSocket>>();
const server = createServer((req, res) => {
  if (req.url === '/health') res.writeHead(200, { 'content-type': 'application/json' }).end(healthBody());
  else res.writeHead(404).end();
});
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 64 * 1024 });

wss.on('connection', (ws, req) => {
  const channel = channelOf(req.url?.split('?', 2)[1] ?? '');
  let members = channels.get(channel);
  if (!members) channels.set(channel, (members = new Set()));
  const peers = members;
  peers.add(ws);
  ws.on('message', (data, isBinary) => {
    for (const client of peers) {
      if (client !== ws && client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
    }
  });
  ws.on('close', () => {
    peers.delete(ws);
    if (peers.size === 0) channels.delete(channel);
  });
  ws.send('ready');
});

server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  announce('ws', typeof address === 'object' && address ? address.port : port);
});
exitOnSignals(() => server.close());
