import type { ChannelEvent, ConnectionEvent, HandshakeRefusal, HandshakeRequest, ServerHooks } from '../embed/types.js';
import type { Logger } from '../log.js';
import { RefusalLog } from './refusal-log.js';

type EventHook = Exclude<keyof ServerHooks, 'handshake'>;
type EventOf<H extends EventHook> = Parameters<NonNullable<ServerHooks[H]>>[0];

/**
 * Runs the embedder's hooks so that none of them can take the worker down: a throw, or a
 * rejected promise, is logged with the hook's name (once a second per hook at most, with
 * how many failed meanwhile) and otherwise ignored.
 */
export class HookRunner {
  private readonly failures: RefusalLog;

  constructor(
    private readonly hooks: ServerHooks,
    private readonly log: Logger,
  ) {
    this.failures = new RefusalLog(log);
  }

  has(name: keyof ServerHooks): boolean {
    return typeof this.hooks[name] === 'function';
  }

  run<H extends EventHook>(name: H, event: EventOf<H>): void {
    const hook = this.hooks[name] as ((event: EventOf<H>) => unknown) | undefined;
    if (!hook) return;
    try {
      const result = hook.call(this.hooks, event);
      if (result instanceof Promise) result.catch((error: unknown) => this.failed(name, error));
    } catch (error) {
      this.failed(name, error);
    }
  }

  /**
   * The handshake hook's verdict, synchronous when the hook is; one that throws refuses the
   * handshake with 500, so nothing unchecked gets in.
   */
  handshake(request: HandshakeRequest): HandshakeRefusal | undefined | Promise<HandshakeRefusal | undefined> {
    if (!this.hooks.handshake) return undefined;
    const checked = (refusal: HandshakeRefusal | undefined): HandshakeRefusal | undefined => {
      if (refusal && !(Number.isInteger(refusal.status) && refusal.status >= 400 && refusal.status <= 599)) {
        this.log.error({ status: refusal.status }, 'handshake hook refused with a status outside 400-599: answering 500');
        return { status: 500, body: { error: 'Internal server error' } };
      }
      return refusal;
    };
    const thrown = (error: unknown): HandshakeRefusal => {
      this.failed('handshake', error);
      return { status: 500, body: { error: 'Internal server error' } };
    };
    try {
      const result = this.hooks.handshake(request);
      return result instanceof Promise ? result.then(checked, thrown) : checked(result);
    } catch (error) {
      return thrown(error);
    }
  }

  private failed(name: string, error: unknown): void {
    this.failures.failed(`hook:${name}`, { err: error, hook: name }, 'hook failed');
  }
}

export type { ChannelEvent, ConnectionEvent };
