import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

/** Path of the compiled CLI, the same entry `npm start` runs. */
export const CLI = fileURLToPath(new URL('../../bin/conveyor.js', import.meta.url));

export interface RunningServer {
  readonly port: number;
  readonly url: string;
  readonly httpUrl: string;
  /** GET /health's path, with the server token when the server has one (it guards /health). */
  readonly healthPath: string;
  readonly process: ChildProcess;
  /** Every pino line the server printed so far, parsed. */
  readonly logs: Record<string, unknown>[];
  /** Every raw stdout/stderr line so far (for grepping secrets). */
  readonly rawOutput: string[];
  /** Resolves with the first log line matching `predicate` (already seen or future). */
  waitForLog(predicate: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `conveyor start --port 0 ...flags` as a real child process and waits for its
 * "listening" log line. Registers teardown on `t` when given.
 */
export function startServer(flags: string[] = [], t?: TestContext, env: NodeJS.ProcessEnv = {}): Promise<RunningServer> {
  // A test that restarts a server on the port of an earlier one passes --port itself.
  const port = flags.includes('--port') ? [] : ['--port', '0'];
  return startNode([CLI, 'start', ...port, '--log-level', 'debug', ...flags], t, env);
}

/** Runs `node ...args` (a script that starts a server) and waits for its listening log line. */
export async function startNode(args: string[], t?: TestContext, env: NodeJS.ProcessEnv = {}): Promise<RunningServer> {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const rawOutput: string[] = [];
  const waiters: { predicate: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  const onLine = (line: string): void => {
    rawOutput.push(line);
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    logs.push(parsed);
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i]!;
      if (w.predicate(parsed)) {
        waiters.splice(i, 1);
        w.resolve(parsed);
      }
    }
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;

  const waitForLog = (predicate: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> => {
    const seen = logs.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => waiters.push({ predicate, resolve }));
  };

  const ready = await Promise.race([
    waitForLog((l) => l['msg'] === 'conveyor listening'),
    exited.then(([code]) => {
      throw new Error(`server exited with ${code} before listening:\n${rawOutput.join('\n')}`);
    }),
  ]);
  const port = Number(ready['port']);
  const tokenAt = args.indexOf('--token');
  const token = tokenAt >= 0 ? args[tokenAt + 1] : env['CONVEYOR_TOKEN'];
  let stopped: Promise<number | null> | undefined;
  const stop = (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    if (!stopped) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      stopped = exited.then(([code]) => code);
    }
    return stopped;
  };
  t?.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
    }
    await exited;
  });
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    httpUrl: `http://127.0.0.1:${port}`,
    healthPath: token ? `/health?token=${encodeURIComponent(token)}` : '/health',
    process: child,
    logs,
    rawOutput,
    waitForLog,
    stop,
  };
}
