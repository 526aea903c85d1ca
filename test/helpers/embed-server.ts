// A server with a WebSocket app, hooks and routes for the embedding tests, run as a script.
// Under cluster it runs again in every event worker. The test runner loads every file under
// test/, so it serves only when its environment asks it to. Events are printed as JSON lines
// the tests wait for.
import { createServer, type AppSocket } from '../../src/index.js';

const say = (msg: string, fields: object): void => console.log(JSON.stringify({ msg, ...fields }));

if (process.env['CONVEYOR_TEST_EMBED_SERVER'] === '1') {
  const flags = JSON.parse(process.env['CONVEYOR_TEST_FLAGS'] ?? '{}') as Record<string, unknown>;
  const server = createServer({
    port: 0,
    workers: 2,
    logLevel: 'debug',
    ...flags,
    apps: [
      {
        // Text commands: "join G", "leave G", "publish G text", "boom" (the callback throws).
        path: '/rooms',
        open: (socket) => socket.send(`hello ${socket.id} ${socket.headers['x-client'] ?? ''}`),
        message: async (socket: AppSocket, data, isBinary) => {
          if (isBinary) return void socket.send(data);
          const [command, group = '', ...rest] = String(data).split(' ');
          if (command === 'join') {
            if (!(await socket.join(group))) return void socket.send(`refused join ${group}`);
          } else if (command === 'leave') await socket.leave(group);
          else if (command === 'publish') socket.broadcast(group, rest.join(' '));
          else if (command === 'boom') throw new Error('the app failed on purpose');
          socket.send(`done ${command} ${group}`);
        },
        memberJoined: (socket, group) => say('member joined', { id: socket.id, group }),
        memberLeft: (socket, group) => say('member left', { id: socket.id, group }),
        groupCreated: (group) => say('group created', { group }),
        groupDestroyed: (group) => say('group destroyed', { group }),
      },
    ],
    hooks: {
      connectionOpened: ({ path }) => {
        if (path === '/hook-throws') throw new Error('a hook failed on purpose');
      },
      channelJoined: ({ id, channel, protocol }) => say('channel joined', { id, channel, protocol }),
      channelLeft: ({ id, channel, protocol }) => say('channel left', { id, channel, protocol }),
      channelOccupied: ({ channel, protocol }) => say('channel occupied', { channel, protocol }),
      channelVacated: ({ channel, protocol }) => say('channel vacated', { channel, protocol }),
    },
    routes: [
      {
        method: 'POST',
        path: '/announce',
        handler: (request, app) => {
          const { group, text } = JSON.parse(request.body.toString('utf8')) as { group: string; text: string };
          return app.publish('/rooms', group, text) ? { status: 200, body: '{"ok":true}' } : { status: 503, body: '{"ok":false}' };
        },
      },
      { method: 'GET', path: '/throws', handler: () => { throw new Error('the route failed on purpose'); } },
    ],
  });
  await server.listen();
}
