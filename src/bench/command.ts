import type { Argv } from 'yargs';

/** `conveyor bench`: registered by bin/conveyor.ts. */
export function registerBenchCommand(cli: Argv): Argv {
  return cli.command('bench', 'Load-test a Conveyor (or any) WebSocket server (not built yet)', () => {}, () => {
    process.stderr.write('conveyor bench is not built yet\n');
    process.exitCode = 1;
  });
}
