// Ratchet's echo server on Conveyor: every message to /echo comes back as it was sent, text
// or binary. Run it with `node dist/docs/examples/echo.js`; it serves on port 8989 (or PORT).
// Under cluster this file runs again in every event worker, so the app exists everywhere.
import { createServer } from 'conveyor-server';

const server = createServer({
  port: Number(process.env['PORT'] ?? 8989),
  workers: 2,
  apps: [
    {
      path: '/echo',
      message: (socket, data) => {
        socket.send(data);
      },
    },
  ],
});
await server.listen();
