#!/usr/bin/env node
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { OPTIONS, resolveConfig } from '../src/config.js';
import { ConfigError, ExitCodes, ListenError } from '../src/errors.js';
import { createLogger } from '../src/log.js';
import { openLogSink } from '../src/log-file.js';
import { Supervisor } from '../src/primary/supervisor.js';
import { registerBenchCommand } from '../src/bench/command.js';
import { fileURLToPath } from 'node:url';

const WORKER_ENTRY = fileURLToPath(new URL('../workers/event-worker.js', import.meta.url));

function fail(message: string, code: number): never {
  process.stderr.write(`conveyor: ${message}\n`);
  process.exit(code);
}

function startOptions(cli: Argv): Argv {
  for (const spec of OPTIONS) {
    cli.option(spec.flag, {
      describe: spec.describe,
      type: spec.kind === 'integer' ? 'number' : spec.kind === 'list' ? 'array' : spec.kind === 'json' ? 'string' : spec.kind,
      // Defaults are applied by resolveConfig, after the config file and environment: shown here only.
      ...(spec.default !== undefined ? { defaultDescription: String(spec.default) } : {}),
    });
  }
  return cli.option('config', { describe: 'JSON file of options (keys as flags or camelCase)', type: 'string' });
}

async function start(argv: Record<string, unknown>): Promise<void> {
  const flags: Record<string, unknown> = {};
  for (const spec of OPTIONS) flags[spec.flag] = argv[spec.flag];
  let config;
  try {
    config = resolveConfig({ flags, env: process.env, configFile: argv['config'] as string | undefined });
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message, ExitCodes.invalidConfig);
    throw error;
  }
  const logSink = await openLogSink(config).catch((error: Error) => fail(`cannot open --log-file ${config.logFile}: ${error.message}`, ExitCodes.invalidConfig));
  const log = createLogger(config.logLevel, { role: 'primary' }, logSink?.stream);
  if (logSink) process.stderr.write(`conveyor: logging to ${logSink.description}\n`);
  const supervisor = new Supervisor(config, log, { workerEntry: WORKER_ENTRY, ...(logSink ? { logSink } : {}) });
  try {
    await supervisor.start();
  } catch (error) {
    if (error instanceof ListenError) fail(error.message, ExitCodes.failure);
    throw error;
  }
  const code = await supervisor.whenStopped();
  // The file's last lines may still be buffered: written out before the process ends.
  logSink?.stream.flushSync();
  process.exit(code);
}

const cli = yargs(hideBin(process.argv))
  .scriptName('conveyor')
  .usage('$0 <command> [options]')
  .command('start', 'Start the server (primary, event workers and task threads)', startOptions, (argv) => start(argv))
  .demandCommand(1, 'Name a command: start or bench.')
  .strictCommands()
  .strictOptions()
  .parserConfiguration({ 'camel-case-expansion': false })
  .env(false)
  .help()
  .version(false)
  .fail((message, error) => {
    if (error) throw error;
    fail(`${message}\nRun conveyor --help for usage.`, ExitCodes.invalidConfig);
  });
await registerBenchCommand(cli).parseAsync();
