import { runEventWorker } from '../src/server/run-event-worker.js';
import { WORKER_CONFIG_ENV } from '../src/primary/supervisor.js';
import type { ServerConfig } from '../src/config.js';

/** Entry of a cluster event worker started by `conveyor start`: the primary passes the config. */
runEventWorker(JSON.parse(process.env[WORKER_CONFIG_ENV] ?? '{}') as ServerConfig);
