import type { Worker } from 'node:cluster';
import { createInterface } from 'node:readline';
import type { LogSink } from '../log-file.js';

/**
 * uWS prints this for every late (asynchronous) upgrade, which the transport leaves uncorked
 * on purpose (see transport/app.ts): it says nothing an operator could act on.
 */
const UNCORKED_UPGRADE_WARNING = 'Warning: uWS.HttpResponse writes must be made from within a corked callback.';

/** How a worker's stdio is set up: stdout piped only when the primary writes a log file. */
export function workerStdio(logSink: LogSink | undefined): ['ignore', 'pipe' | 'inherit', 'pipe', 'ipc'] {
  return ['ignore', logSink ? 'pipe' : 'inherit', 'pipe', 'ipc'];
}

/**
 * Passes a worker's output on, line by line: to the log file when there is one, else
 * stderr to the primary's stderr (stdout is the terminal's or the journal's already).
 */
export function forwardWorkerOutput(worker: Worker, logSink: LogSink | undefined): void {
  const forward = (output: NodeJS.ReadableStream | null, write: (line: string) => void): void => {
    if (!output) return;
    createInterface({ input: output, crlfDelay: Infinity }).on('line', (line) => {
      if (!line.startsWith(UNCORKED_UPGRADE_WARNING)) write(line);
    });
  };
  if (logSink) forward(worker.process.stdout, (line) => logSink.writeLine(line));
  forward(worker.process.stderr, logSink ? (line) => logSink.writeLine(line) : (line) => void process.stderr.write(`${line}\n`));
}
