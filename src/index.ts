import cluster from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { resolveConfig, type ServerConfig } from './config.js';
import { createLogger } from './log.js';
import type { ActionDefinition } from './protocol/native/action.js';
import type { CustomRoute, ServerHooks, WebSocketApp } from './embed/types.js';
import { ConfigError } from './errors.js';
import { Supervisor, WORKER_CONFIG_ENV } from './primary/supervisor.js';
import { runEventWorker } from './server/run-event-worker.js';

export { defineAction, ActionContext, type ActionDefinition, type ClientFrame, type ValidationResult } from './protocol/native/action.js';
export type { Session } from './protocol/native/hub.js';
export { resolveConfig, OPTIONS, type ServerConfig, type LogLevel } from './config.js';
export { ConfigError, ListenError } from './errors.js';
export type {
  AppContext,
  AppSocket,
  ChannelEvent,
  ConnectionEvent,
  CustomRoute,
  HandshakeRefusal,
  HandshakeRequest,
  HttpReply,
  HttpRequestInfo,
  RouteContext,
  ServerHooks,
  WebSocketApp,
} from './embed/types.js';

export interface CreateServerOptions extends Partial<ServerConfig> {
  /** Custom actions, answered in the standard envelope beside the built-in ones. */
  actions?: readonly ActionDefinition[];
  /** Plain WebSocket apps, each on its own path (no Conveyor envelope), with groups across workers. */
  apps?: readonly WebSocketApp[];
  /** Hooks on handshakes, connections and the built-in protocols' channels. */
  hooks?: ServerHooks;
  /** HTTP routes beside the built-in ones. */
  routes?: readonly CustomRoute[];
  /**
   * Module the event workers run. Defaults to the package's own worker, or, when custom
   * actions, apps, hooks or routes are given, to this very script (it runs again in each worker, registers the
   * same actions, and `listen()` there serves as the worker: Node's cluster idiom).
   */
  workerEntry?: string;
}

export interface ConveyorServer {
  /** Starts the primary and its workers; resolves with the port once every worker listens. */
  listen(): Promise<{ port: number }>;
  /** Drains and stops (as on SIGTERM); resolves with the exit code. */
  close(): Promise<number>;
}

const DEFAULT_WORKER = fileURLToPath(new URL('../workers/event-worker.js', import.meta.url));

/**
 * Creates a Conveyor server: a primary that forks `workers` uWebSockets.js event workers
 * and keeps `taskWorkers` task threads. Options not given take the CLI's defaults.
 */
export function createServer(options: CreateServerOptions = {}): ConveyorServer {
  const { actions = [], apps = [], hooks = {}, routes = [], workerEntry, ...flags } = options;
  for (const app of apps) {
    if (!/^\/[^:?#\s]*$/.test(app.path)) throw new ConfigError(`WebSocket app path ${JSON.stringify(app.path)} must start with / and hold no ":", "?", "#" or spaces`);
  }
  if (cluster.isWorker && process.env[WORKER_CONFIG_ENV]) {
    return {
      listen: () => {
        runEventWorker(JSON.parse(process.env[WORKER_CONFIG_ENV]!) as ServerConfig, { actions, apps, hooks, routes });
        return new Promise(() => {});
      },
      close: () => Promise.resolve(0),
    };
  }
  const config = resolveConfig({ flags });
  const log = createLogger(config.logLevel, { role: 'primary' });
  if (config.logFile !== undefined) log.warn('--log-file applies to `conveyor start`; createServer() logs to stdout');
  const embeds = actions.length > 0 || apps.length > 0 || routes.length > 0 || Object.keys(hooks).length > 0;
  const entry = workerEntry ?? (embeds && process.argv[1] ? process.argv[1] : DEFAULT_WORKER);
  const supervisor = new Supervisor(config, log, { workerEntry: entry });
  return {
    listen: async () => ({ port: await supervisor.start() }),
    close: () => supervisor.stop(),
  };
}
