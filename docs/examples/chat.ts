// Ratchet's MyChat on Conveyor: everyone connected to /chat gets every message the others
// send, whichever worker (or, with Redis, node) holds them. Run it with
// `node dist/docs/examples/chat.js`; it serves on port 8989 (or PORT).
import { createServer } from 'conveyor-server';

const server = createServer({
  port: Number(process.env['PORT'] ?? 8989),
  workers: 2,
  apps: [
    {
      path: '/chat',
      open: async (socket) => {
        await socket.join('everyone');
        // Tells the client it is in: from now on it hears everyone, on every worker.
        socket.send(JSON.stringify({ welcome: socket.id }));
      },
      // To everyone else: like MyChat, the sender does not get its own message back.
      message: (socket, data) => {
        socket.broadcast('everyone', data);
      },
    },
  ],
});
await server.listen();
