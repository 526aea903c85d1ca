import { workerData } from 'node:worker_threads';
import { runTask } from '../src/tasks/index.js';
import type { TaskEnvironment, TaskRequest, TaskResult } from '../src/tasks/types.js';

const env = workerData as TaskEnvironment;

/** piscina entry: one dispatcher for every task. */
export default function dispatch(request: TaskRequest): Promise<TaskResult> {
  return runTask(request, env);
}
