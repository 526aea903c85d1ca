import { Piscina } from 'piscina';
import type { TaskEnvironment, TaskRequest, TaskResult } from '../tasks/types.js';

/**
 * The task threads. Timer tasks spend their life asleep, so one thread runs many at once;
 * they are never given an AbortSignal (piscina would give such a task a thread of its own
 * and terminate that thread on abort).
 */
export class TaskPool {
  private readonly piscina: Piscina<TaskRequest, TaskResult>;

  constructor(threads: number, env: TaskEnvironment) {
    this.piscina = new Piscina({
      filename: new URL('../../workers/task-worker.js', import.meta.url).href,
      minThreads: threads,
      maxThreads: threads,
      concurrentTasksPerWorker: 4096,
      idleTimeout: Infinity,
      maxQueue: Infinity,
      workerData: env,
    });
  }

  run(request: TaskRequest): Promise<TaskResult> {
    return this.piscina.run(request);
  }

  get stats(): { threads: number; queued: number; completed: number } {
    return { threads: this.piscina.threads.length, queued: this.piscina.queueSize, completed: this.piscina.completed };
  }

  close(): Promise<void> {
    return this.piscina.destroy();
  }
}
