import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** Linux reports process times in clock ticks of 1/100 s (USER_HZ on every mainstream build). */
const TICKS_PER_SECOND = 100;

export interface ServerProcess {
  readonly port: number;
  readonly child: ChildProcess;
  /** Processes whose CPU counts as the server's (Conveyor: primary and event workers). */
  pids: number[];
  /** Every line the process printed, for a failure message. */
  readonly output: string[];
  stop(): Promise<void>;
}

/**
 * Starts a server (`node ...args`) and resolves once it printed a JSON line with a `port`
 * and a listening `msg`: the baselines' `listening` or Conveyor's `conveyor listening`.
 */
export async function startServerProcess(args: string[], timeoutMs = 20_000): Promise<ServerProcess> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      // A server that never said it listens must not outlive the attempt.
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} printed no listening line within ${timeoutMs} ms:\n${output.join('\n')}`));
    }, timeoutMs);
    const onLine = (line: string): void => {
      output.push(line);
      if (output.length > 200) output.shift();
      try {
        const parsed = JSON.parse(line) as { msg?: unknown; port?: unknown };
        if ((parsed.msg === 'listening' || parsed.msg === 'conveyor listening') && typeof parsed.port === 'number') {
          clearTimeout(timer);
          resolve(parsed.port);
        }
      } catch {
        // Not JSON: kept for the failure message only.
      }
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(' ')} exited (${code}) before listening:\n${output.join('\n')}`));
    });
  });
  const exited = once(child, 'exit');
  return {
    port,
    child,
    pids: [child.pid!],
    output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** CPU seconds (user + system, all threads) the processes used so far; gone processes count 0. */
export function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after the command name, which may itself hold spaces or parentheses.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // The process is gone: nothing more to count.
    }
  }
  return ticks / TICKS_PER_SECOND;
}
