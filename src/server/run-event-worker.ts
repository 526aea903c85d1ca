import { IpcBus } from '../bus/ipc-bus.js';
import type { ServerConfig } from '../config.js';
import { PrimaryLink } from '../ipc/primary-link.js';
import { createLogger } from '../log.js';
import { ipcRegistry } from '../registry/ipc-registry.js';
import { TaskRunner } from '../tasks/task-runner.js';
import { EventServer, type Embedding } from './event-server.js';
import cluster from 'node:cluster';
import { WORKER_NODE_ENV } from '../ipc/worker-env.js';

/**
 * Runs this process as one event worker: connects to the primary, listens on the port the
 * primary names, and drains when told to.
 */
export function runEventWorker(config: ServerConfig, embedding: Partial<Embedding> = {}, nodeId = process.env[WORKER_NODE_ENV]): void {
  const log = createLogger(config.logLevel, { worker: cluster.worker?.id ?? 0 });
  const link = new PrimaryLink();
  const server = new EventServer({
    config,
    ...(nodeId !== undefined ? { nodeId } : {}),
    link,
    // A worker of one node among several sends every publication to its primary, which alone knows the other nodes.
    bus: new IpcBus(link, config.ipcQueueLimit, nodeId !== undefined),
    registry: ipcRegistry(link),
    tasks: new TaskRunner(link),
    log,
    embedding: { actions: embedding.actions ?? [], apps: embedding.apps ?? [], hooks: embedding.hooks ?? {}, routes: embedding.routes ?? [] },
  });
  // A terminal's Ctrl-C or a service manager signals the whole process group; the primary
  // coordinates the drain, so a worker waits for its word instead of dying mid-send.
  // SIGUSR2 (logrotate's) would end a worker by default: the primary alone reopens the log file.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGUSR2'] as const) process.on(signal, () => {});
  // Without the primary nothing routes or supervises: exit rather than serve half a server.
  process.on('disconnect', () => {
    log.warn('primary is gone: exiting');
    process.exit(1);
  });
  process.on('uncaughtException', (error) => {
    log.fatal({ err: error }, 'uncaught exception: exiting');
    process.exit(1);
  });
  link.send({ type: 'need-fds' });
  server.listen().then(
    (port) => {
      log.debug({ port }, 'worker listening');
      link.send({ type: 'listening', port });
    },
    (error: Error) => {
      link.send({ type: 'listen-failed', reason: error.message });
      link.flush();
      setTimeout(() => process.exit(1), 100).unref();
    },
  );
  link.on('drain', (message) => {
    log.info({ closeCode: message.closeCode }, 'draining');
    server.drain(message.closeCode === 1012, config.shutdownTimeout * 1000).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
