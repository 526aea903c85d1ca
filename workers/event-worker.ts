import type { ServerConfig } from '../src/config.js';

/** Entry of a cluster event worker started by `conveyor start`: the primary passes the config. */
const config = JSON.parse(process.env['CONVEYOR_WORKER_CONFIG'] ?? '{}') as ServerConfig;
try {
  const { runEventWorker } = await import('../src/server/run-event-worker.js');
  runEventWorker(config);
} catch (error) {
  // Tell the primary why (it prints one line) instead of dying with a stack trace.
  process.send?.({ conveyor: 1, messages: [{ type: 'listen-failed', reason: (error as Error).message }] }, () => process.exit(1));
}
