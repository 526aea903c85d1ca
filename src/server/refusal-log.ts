import type { Logger } from '../log.js';

const WINDOW_MS = 1000;

/**
 * Logs refusals and failures at most once a second per kind: a client hammering the server
 * with bad handshakes, or traffic that makes a hook throw on every frame, must not turn into
 * megabytes of log lines. The first of a kind is logged at once; the ones after it within
 * the second are counted and reported with the next line of that kind.
 */
export class RefusalLog {
  private readonly kinds = new Map<string, { lastLogged: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  refused(kind: string, fields: Record<string, unknown>, message: string): void {
    this.emit('warn', kind, fields, message);
  }

  failed(kind: string, fields: Record<string, unknown>, message: string): void {
    this.emit('error', kind, fields, message);
  }

  private emit(level: 'warn' | 'error', kind: string, fields: Record<string, unknown>, message: string): void {
    const now = this.now();
    const entry = this.kinds.get(kind);
    if (entry && now - entry.lastLogged < WINDOW_MS) {
      entry.suppressed++;
      return;
    }
    const suppressed = entry?.suppressed ?? 0;
    this.kinds.set(kind, { lastLogged: now, suppressed: 0 });
    this.log[level]({ ...fields, kind, ...(suppressed > 0 ? { suppressed } : {}) }, message);
  }
}
