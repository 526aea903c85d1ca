import type { PrimaryLink } from '../ipc/primary-link.js';
import type { TaskOutputs, TaskRequest } from './types.js';

/** Runs tasks in the primary's pool; the result comes back to the worker that asked. */
export class TaskRunner {
  constructor(private readonly link: PrimaryLink) {}

  run<R extends TaskRequest>(request: R): Promise<TaskOutputs[R['name']]> {
    return this.link.request<TaskOutputs[R['name']]>({ kind: 'task', body: request });
  }
}
