/**
 * What the comparison's baseline servers share: `--port N` (0 = any free port), a
 * `{"msg":"listening","port":N}` line on stdout once they accept, and the `rss` their
 * /health answers, in the shape Conveyor's /health has.
 */
export function portFromArgs(argv: readonly string[] = process.argv.slice(2)): number {
  const at = argv.indexOf('--port');
  const port = at >= 0 ? Number(argv[at + 1]) : 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`baseline: --port must be a whole number from 0 to 65535, got ${argv[at + 1]}\n`);
    process.exit(2);
  }
  return port;
}

export function announce(name: string, port: number): void {
  process.stdout.write(`${JSON.stringify({ msg: 'listening', server: name, port, pid: process.pid })}\n`);
}

export function healthBody(): string {
  return JSON.stringify({ status: 'ok', rss: process.memoryUsage().rss });
}

/** The channel a connection asked for in its query; one default topic otherwise. */
export function channelOf(query: string): string {
  return new URLSearchParams(query).get('channel') || 'bench';
}

/** Ends the process on the signals the comparison runner sends. */
export function exitOnSignals(close: () => void): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      close();
      process.exit(0);
    });
  }
}
