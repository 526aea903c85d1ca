// Hooks and a route on Conveyor's built-in protocols: handshakes without a session cookie
// are refused with 401, channels that gain their first member or lose their last are logged
// (once for the whole server, not once per worker), and GET /whoami answers beside the
// built-in endpoints. Run it with `node dist/docs/examples/hooks.js` (port 8989 or PORT).
import { createServer } from 'conveyor-server';

const log = (msg: string, fields: object): void => console.log(JSON.stringify({ msg, ...fields }));

const server = createServer({
  port: Number(process.env['PORT'] ?? 8989),
  workers: 2,
  hooks: {
    handshake: (request) =>
      /(^|;\s*)session=[^;]+/.test(request.headers['cookie'] ?? '') ? undefined : { status: 401, body: { error: 'Log in first: no session cookie' } },
    channelOccupied: ({ channel, protocol }) => log('channel occupied', { channel, protocol }),
    channelVacated: ({ channel, protocol }) => log('channel vacated', { channel, protocol }),
  },
  routes: [
    {
      method: 'GET',
      path: '/whoami',
      handler: (request) => ({ status: 200, body: JSON.stringify({ address: request.remoteAddress }), contentType: 'application/json' }),
    },
  ],
});
await server.listen();
