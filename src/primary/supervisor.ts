import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import type { LogSink } from '../log-file.js';
import { effectiveWorkers, redactConfig, type ServerConfig } from '../config.js';
import { ListenError } from '../errors.js';
import { isBatch } from '../ipc/batch-queue.js';
import { WORKER_CONFIG_ENV, WORKER_NODE_ENV } from '../ipc/worker-env.js';
import type { WorkerMessage } from '../ipc/messages.js';
import type { Logger } from '../log.js';
import type { Engine } from '../registry/engine.js';
import { TopicWorkers } from '../registry/topic-workers.js';
import { AppDirectory } from '../apps/apps.js';
import { createEngine } from './create-engine.js';
import { Announcer } from './announcer.js';
import { Router } from './router.js';
import { ServerNumbers } from './server-stats.js';
import { WebhookDispatcher } from './webhooks.js';
import { WaitingListener } from './waiting-listener.js';
import { assertPortFree, listenerHandoverEnabled, pickFreePort } from './port-check.js';
import { TaskPool } from './task-pool.js';
import { forwardWorkerOutput, workerStdio } from './worker-output.js';

export { WORKER_CONFIG_ENV };

const RESTART_BASE_MS = 100;
const RESTART_MAX_MS = 30_000;
/** A worker that lived this long before dying is restarted without backoff. */
const HEALTHY_UPTIME_MS = 10_000;

type State = 'starting' | 'running' | 'rolling' | 'draining';

interface Slot {
  worker: Worker;
  startedAt: number;
  listening: Promise<number>;
  /** Set when the primary itself asked this worker to go. */
  retiring: boolean;
}

export interface PrimaryOptions {
  /** Module that cluster workers execute. */
  workerEntry: string;
  /** With --log-file: workers' output is piped here, line by line, by the primary. */
  logSink?: LogSink;
}

/**
 * The primary process: forks the event workers, restarts the ones that die, rolls them on
 * SIGHUP, drains them on SIGTERM/SIGINT, and owns the registry, router and task pool.
 */
export class Supervisor {
  private readonly pool: TaskPool;
  private readonly router: Router;
  /** The server's state: in this process, or this node's part of it in Redis. */
  private readonly engine: Engine;
  private readonly slots = new Map<number, Slot>();
  private state: State = 'starting';
  private port: number;
  private quickDeaths = 0;
  private exitCode = 0;
  private readonly exited: Promise<number>;
  private resolveExited!: (code: number) => void;

  constructor(
    private readonly config: ServerConfig,
    private readonly log: Logger,
    private readonly options: PrimaryOptions,
  ) {
    this.port = config.port;
    this.pool = new TaskPool(config.taskWorkers, {});
    const topics = new TopicWorkers();
    const apps = new AppDirectory(config.pusherApps);
    const webhooks = new WebhookDispatcher(apps, this.pool, log);
    const announcer = new Announcer(config, webhooks);
    this.engine = createEngine(config, topics, announcer, apps, log);
    const numbers = new ServerNumbers(this.engine, this.pool, config.pusherApps.length > 0 ? webhooks : undefined);
    this.router = new Router(config, this.engine, topics, this.pool, numbers, announcer, log);
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
  }

  /** Forks the workers and resolves with the port once all of them listen. */
  async start(): Promise<number> {
    try {
      // Fails fast, with the reason, when uWS would only load its slow fallback.
      await import('../transport/uws.js').catch((error: Error) => {
        throw new ListenError(error.message);
      });
      if (this.port === 0) this.port = await pickFreePort(this.config.host);
      else await assertPortFree(this.config.host, this.port);
    } catch (error) {
      await this.shutdownNow(1);
      throw error;
    }
    // Workers' stderr, and with a log file their stdout, come through the primary (worker-output.ts).
    // An engine that waits for Redis has the port answer 503 meanwhile (plain HTTP: with TLS a
    // probe would not understand it, so nothing listens).
    const nothing = { close: async (): Promise<void> => {} };
    await this.engine.start(async () => (this.config.tlsCert ? nothing : ((await WaitingListener.open(this.config.host, this.port)) ?? nothing)));
    cluster.setupPrimary({ exec: this.options.workerEntry, args: [], stdio: workerStdio(this.options.logSink) });
    this.installSignals();
    const count = effectiveWorkers(this.config);
    this.log.info({ config: redactConfig(this.config), workers: count }, 'starting');
    try {
      // Every worker binds the same concrete port; SO_REUSEPORT lets the kernel spread connections.
      await Promise.all(Array.from({ length: count }, () => this.fork().listening));
    } catch (error) {
      // A signal while the workers start stops them on purpose: drain() finishes the stop.
      if (this.state === 'draining') return this.port;
      await this.shutdownNow(1);
      throw error;
    }
    // Running now would undo a drain begun by a signal while the workers started.
    if (this.state === 'draining') return this.port;
    this.state = 'running';
    this.router.setReadiness('ready');
    this.log.info({ host: this.config.host, port: this.port, workers: count, taskWorkers: this.config.taskWorkers }, 'conveyor listening');
    return this.port;
  }

  /** Resolves with the exit code once the server has stopped. */
  whenStopped(): Promise<number> {
    return this.exited;
  }

  /** Drains as SIGTERM does (the embedding API's close()); resolves with the exit code once stopped. */
  stop(): Promise<number> {
    if (this.state !== 'draining') {
      this.log.info('shutting down');
      void this.drain();
    }
    return this.exited;
  }

  private fork(): Slot {
    const nodeId = this.engine.nodeId;
    const worker = cluster.fork({ [WORKER_CONFIG_ENV]: JSON.stringify({ ...this.config, port: this.port }), ...(nodeId !== undefined ? { [WORKER_NODE_ENV]: nodeId } : {}) });
    this.router.attach(worker);
    forwardWorkerOutput(worker, this.options.logSink);
    let resolveListening!: (port: number) => void;
    let rejectListening!: (error: Error) => void;
    const listening = new Promise<number>((resolve, reject) => {
      resolveListening = resolve;
      rejectListening = reject;
    });
    listening.catch(() => {});
    const slot: Slot = { worker, startedAt: Date.now(), listening, retiring: false };
    this.slots.set(worker.id, slot);
    const log = this.log.child({ worker: worker.id });
    log.info({ workerPid: worker.process.pid }, 'worker started');

    worker.on('message', (message: unknown) => {
      if (!isBatch<WorkerMessage | { type: 'listen-failed'; reason: string }>(message)) return;
      for (const m of message.messages) {
        if (m.type === 'listening') resolveListening(m.port);
        else if (m.type === 'listen-failed') rejectListening(new ListenError(m.reason));
        else this.router.handle(worker.id, m);
      }
    });
    worker.on('exit', (code, signal) => {
      this.slots.delete(worker.id);
      this.router.detach(worker.id);
      rejectListening(new ListenError(`worker ${worker.id} exited (code ${code}, signal ${signal}) before listening`));
      if (slot.retiring || this.state === 'draining') {
        log.info({ code, signal }, 'worker exited');
        if (this.state === 'draining' && this.slots.size === 0) void this.finish();
        return;
      }
      log.error({ code, signal }, 'worker died');
      if (this.state === 'starting') return;
      this.restartLater(Date.now() - slot.startedAt);
    });
    return slot;
  }

  private restartLater(uptimeMs: number): void {
    this.quickDeaths = uptimeMs >= HEALTHY_UPTIME_MS ? 0 : this.quickDeaths + 1;
    const delay = this.quickDeaths === 0 ? 0 : Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** (this.quickDeaths - 1));
    this.log.warn({ delayMs: delay, quickDeaths: this.quickDeaths }, 'restarting worker');
    setTimeout(() => {
      if (this.state === 'running' || this.state === 'rolling') {
        const slot = this.fork();
        slot.listening.then(
          () => this.log.info({ worker: slot.worker.id }, 'worker restarted'),
          (error: Error) => this.log.error({ worker: slot.worker.id, err: error.message }, 'restarted worker failed to listen'),
        );
      }
    }, delay).unref();
  }

  private installSignals(): void {
    const stop = (signal: NodeJS.Signals): void => {
      if (this.state === 'draining') {
        this.log.warn({ signal }, 'second signal: exiting now');
        void this.shutdownNow(1);
        return;
      }
      this.log.info({ signal }, 'shutting down');
      void this.drain();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', () => void this.roll());
    const sink = this.options.logSink;
    process.on('SIGUSR2', () => {
      if (!sink) return;
      sink.reopen();
      this.log.info('log file reopened (SIGUSR2)');
    });
  }

  /** Replaces the workers one at a time, so that the port never stops accepting. */
  private async roll(): Promise<void> {
    if (this.state !== 'running') {
      this.log.warn({ state: this.state }, 'SIGHUP ignored: not running');
      return;
    }
    this.state = 'rolling';
    this.log.info({ workers: this.slots.size }, 'rolling restart');
    if (!(await listenerHandoverEnabled())) {
      this.log.warn(
        'net.ipv4.tcp_migrate_req is 0: connections queued at a retiring worker in the instant its listener closes will be reset. Run `sysctl -w net.ipv4.tcp_migrate_req=1` to hand them to the other workers.',
      );
    }
    for (const old of [...this.slots.values()]) {
      if (this.state !== 'rolling') return;
      const replacement = this.fork();
      try {
        await replacement.listening;
      } catch (error) {
        this.log.error({ err: (error as Error).message }, 'rolling restart stopped: a replacement failed to listen');
        break;
      }
      if (!old.worker.isDead()) {
        old.retiring = true;
        this.router.send(old.worker.id, { type: 'drain', closeCode: 1012 });
        await once(old.worker, 'exit');
      }
    }
    if (this.state === 'rolling') this.state = 'running';
    this.log.info('rolling restart done');
  }

  private async drain(): Promise<void> {
    this.state = 'draining';
    this.router.setReadiness('draining');
    if (this.config.drainDelay > 0) {
      // Load balancers see /ready turn 503 and stop sending; everything else keeps working meanwhile.
      this.log.info({ seconds: this.config.drainDelay }, 'not ready: draining after --drain-delay');
      await new Promise((resolve) => setTimeout(resolve, this.config.drainDelay * 1000));
    }
    for (const slot of this.slots.values()) this.router.send(slot.worker.id, { type: 'drain', closeCode: 1001 });
    if (this.slots.size === 0) return this.finish();
    // Workers drain within --shutdown-timeout; past a grace on top of that they are killed.
    setTimeout(() => {
      this.log.warn({ remaining: this.slots.size }, 'workers did not drain in time: killing them');
      for (const slot of this.slots.values()) slot.worker.process.kill('SIGKILL');
    }, this.config.shutdownTimeout * 1000 + 2000).unref();
  }

  private async finish(): Promise<void> {
    await this.engine.stop();
    await this.pool.close().catch(() => {});
    this.log.info({ code: this.exitCode }, 'stopped');
    this.resolveExited(this.exitCode);
  }

  private async shutdownNow(code: number): Promise<void> {
    this.state = 'draining';
    this.exitCode = code;
    for (const slot of this.slots.values()) slot.worker.process.kill('SIGKILL');
    await this.engine.stop();
    await this.pool.close().catch(() => {});
    this.resolveExited(code);
  }
}
