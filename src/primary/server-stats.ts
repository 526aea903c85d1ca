import type { DashboardStats, ServerStats, WorkerStats, WorkerUsage } from '../ipc/messages.js';
import type { Engine } from '../registry/engine.js';
import type { TaskPool } from './task-pool.js';
import type { WebhookDispatcher } from './webhooks.js';

/** A worker as the statistics see it. */
export interface WorkerView {
  id: number;
  pid: number;
  usage: WorkerUsage;
}

/** The server's numbers, as GET /conveyor/stats, /metrics and the dashboard give them. */
export class ServerNumbers {
  constructor(
    private readonly engine: Engine,
    private readonly pool: TaskPool,
    /** Present when Pusher apps are configured. */
    private readonly webhooks: WebhookDispatcher | undefined,
  ) {}

  stats(workers: Iterable<WorkerView>): ServerStats {
    const perWorker: WorkerStats[] = [...workers].map(({ id, pid, usage }) => ({ id, pid, connections: this.engine.connectionsOf(id), ...usage }));
    const rss = perWorker.reduce((sum, w) => sum + w.rss, process.memoryUsage().rss);
    const webhooks = this.webhooks;
    return {
      ...this.engine.stats(),
      rss,
      tasks: this.pool.stats,
      workers: perWorker,
      ...(webhooks ? { webhooks: { delivered: webhooks.delivered, failed: webhooks.failed, dropped: webhooks.dropped, bytes: webhooks.bytes } } : {}),
    };
  }

  dashboard(workers: Iterable<WorkerView>): DashboardStats {
    return { ...this.stats(workers), largestChannels: this.engine.largestChannels(10), pusherApps: this.engine.pusherApps(), at: Date.now() };
  }
}
