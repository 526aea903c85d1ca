// A server with two test actions, run as a script: `hold` keeps its socket busy until some
// socket sends `release`, so a test can fill that socket's backlog deterministically.
// Under cluster this file runs again in the event worker, where the actions live. The test
// runner loads every file under test/, so it serves only when its environment asks it to.
import { createServer, defineAction } from '../../src/index.js';

let release: () => void = () => {};
const held = new Promise<void>((resolve) => (release = resolve));

if (process.env['CONVEYOR_TEST_HOLD_SERVER'] === '1') {
  const server = createServer({
    port: 0,
    workers: 1,
    logLevel: 'debug',
    actions: [
      defineAction({ name: 'hold', handle: () => held }),
      defineAction({
        name: 'release',
        handle: (context) => {
          release();
          context.reply('release', 'released');
        },
      }),
    ],
  });
  await server.listen();
}
