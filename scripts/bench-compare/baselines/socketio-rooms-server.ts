import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { announce, exitOnSignals, healthBody, portFromArgs } from './baseline-cli.js';

/**
 * Socket.IO 4 with rooms, as its documentation teaches: each socket joins the room named
 * in its handshake query, and a `broadcast-action` event goes to the rest of the room
 * (`socket.to(room).emit`). WebSocket transport only, as the generator connects.
 */
const port = portFromArgs();
const server = createServer((req, res) => {
  // Socket.IO answers its own path before this handler runs.
  if (req.url === '/health') res.writeHead(200, { 'content-type': 'application/json' }).end(healthBody());
  else res.writeHead(404).end();
});
const io = new Server(server, { transports: ['websocket'], serveClient: false, perMessageDeflate: false });

io.on('connection', (socket) => {
  const channel = String(socket.handshake.query['channel'] || 'bench');
  void socket.join(channel);
  socket.on('broadcast-action', (data: unknown) => {
    socket.to(channel).emit('broadcast-action', data);
  });
  socket.emit('ready');
});

server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  announce('socketio', typeof address === 'object' && address ? address.port : port);
});
exitOnSignals(() => void io.close());
