import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger };

/**
 * The process's root logger. Paths that could carry secrets are redacted by pino itself,
 * so a careless `log.info({ query })` never prints a token.
 */
export function createLogger(level: LogLevel, bindings: Record<string, unknown> = {}, destination?: NodeJS.WritableStream): Logger {
  return pino({
    level,
    base: { pid: process.pid, ...bindings },
    redact: { paths: ['token', '*.token', 'auth', '*.auth', 'query', '*.query', 'tlsPassphrase', '*.tlsPassphrase', 'metricsToken', '*.metricsToken', 'authorization', '*.authorization'], censor: '[redacted]' },
  }, destination ?? pino.destination(1));
}
