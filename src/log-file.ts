import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pino } from 'pino';
import type { ServerConfig } from './config.js';

/** The one stream every process's log lines end in when --log-file is given. */
export interface LogSink {
  /** A destination for pino (the primary's own logger). */
  readonly stream: NodeJS.WritableStream & { reopen(file?: string): void; flushSync(): void };
  /** Writes one whole line (a worker's, as it printed it). */
  writeLine(line: string): void;
  /** Opens the file again, for an external logrotate that moved it away (SIGUSR2). */
  reopen(): void;
  /** Where the lines go now: the file, or with rotation the newest numbered file. */
  readonly description: string;
}

type RollStream = LogSink['stream'] & { file: string };
type PinoRoll = (options: Record<string, unknown>) => Promise<RollStream>;

/**
 * Opens --log-file. Without rotation it is the file itself, which SIGUSR2 reopens (for
 * logrotate's move-then-signal). With --log-rotate-size or --log-rotate-daily, pino-roll
 * writes numbered files beside it (conveyor.1.log, conveyor.2.log, …), keeps
 * --log-rotate-keep of the old ones, and points a `current.log` symlink at the newest.
 * Only the primary writes the file: workers' lines reach it through their stdout, so one
 * process decides rotations and no line is written twice or cut.
 */
export async function openLogSink(config: ServerConfig): Promise<LogSink | undefined> {
  const file = config.logFile;
  if (file === undefined) return undefined;
  const rotating = config.logRotateSize !== '' || config.logRotateDaily;
  let stream: LogSink['stream'];
  let description = file;
  if (rotating) {
    const roll = createRequire(import.meta.url)('pino-roll') as PinoRoll;
    const rolled = await roll({
      file,
      mkdir: true,
      symlink: true,
      ...(config.logRotateSize !== '' ? { size: config.logRotateSize } : {}),
      ...(config.logRotateDaily ? { frequency: 'daily' } : {}),
      limit: { count: config.logRotateKeep },
    });
    stream = rolled;
    description = `${rolled.file} (rotating; ${join(dirname(file), 'current.log')} points at the newest)`;
  } else {
    stream = pino.destination({ dest: file, mkdir: true, sync: false }) as unknown as LogSink['stream'];
  }
  return {
    stream,
    writeLine: (line) => void stream.write(line.endsWith('\n') ? line : `${line}\n`),
    reopen: () => stream.reopen(),
    description,
  };
}
