import { FrameErrors, ServiceUnavailable } from '../../errors.js';
import type { Logger } from '../../log.js';
import { ActionContext, type ActionDefinition, type ClientFrame } from './action.js';
import { acknowledgeAction } from './actions/acknowledge-action.js';
import { assocUserToFdAction } from './actions/assoc-user-to-fd-action.js';
import { baseAction } from './actions/base-action.js';
import { broadcastAction } from './actions/broadcast-action.js';
import { channelConnect } from './actions/channel-connect.js';
import { channelDisconnect } from './actions/channel-disconnect.js';
import { fanoutAction } from './actions/fanout-action.js';
import { acknowledgeReply, connectionInfo } from './envelope.js';
import { nestsDeeperThan } from '../json-depth.js';
import type { Hub, Session } from './hub.js';

export const BUILT_IN_ACTIONS: readonly ActionDefinition[] = [
  baseAction,
  channelConnect,
  channelDisconnect,
  broadcastAction,
  fanoutAction,
  acknowledgeAction,
  assocUserToFdAction,
] as ActionDefinition[];

/** How the SDK (and every client seen) writes an acknowledgment: read without parsing. */
const ACK_PREFIX = '{"action":"acknowledge-action","data":"';
const ACK_SUFFIX = '"}';

/**
 * The id of an acknowledgment written exactly as ACK_PREFIX id ACK_SUFFIX, its id a JSON
 * string with nothing to unescape; else undefined, and the frame takes the parser's path,
 * which answers what is not valid JSON.
 */
function plainAckId(text: string): string | undefined {
  const end = text.length - ACK_SUFFIX.length;
  if (end <= ACK_PREFIX.length || !text.startsWith(ACK_PREFIX) || !text.endsWith(ACK_SUFFIX)) return undefined;
  for (let i = ACK_PREFIX.length; i < end; i++) {
    const code = text.charCodeAt(i);
    // A quote or backslash needs the parser; a raw control character is not JSON at all.
    if (code < 0x20 || code === 0x22 || code === 0x5c) return undefined;
  }
  return text.slice(ACK_PREFIX.length, end);
}

/** Frames a socket may have waiting behind an unfinished one before new ones are refused. */
export const MAX_BACKLOG_FRAMES = 256;

export interface NativeProtocolLimits {
  maxJsonDepth: number;
  /** Characters of frames a socket may have waiting behind an unfinished one. */
  maxBacklogBytes: number;
}

/** A session plus what keeps its frames in order while one of them waits on the primary. */
export interface NativeSession extends Session {
  busy: boolean;
  /** Frames that arrived while an earlier one waited; created on the first such frame (most sockets never have one). */
  backlog: string[] | undefined;
  backlogBytes: number;
}

/**
 * The native Socket Conveyor protocol: parses each frame once, answers client ids,
 * validates, and dispatches by action name. A socket's frames run strictly in order: while
 * one waits (a join, a token check, a fanout plan), the ones after it queue.
 */
export class NativeProtocol {
  private readonly actions = new Map<string, ActionDefinition>();

  constructor(
    private readonly hub: Hub,
    private readonly log: Logger,
    customActions: readonly ActionDefinition[] = [],
    private readonly limits: NativeProtocolLimits = { maxJsonDepth: 32, maxBacklogBytes: 1024 * 1024 },
  ) {
    for (const action of [...BUILT_IN_ACTIONS, ...customActions]) {
      if (this.actions.has(action.name)) throw new Error(`action "${action.name}" is registered twice; choose another name`);
      this.actions.set(action.name, action);
    }
  }

  open(session: NativeSession): void {
    const ackId = this.hub.newAckId();
    this.hub.send(session, connectionInfo(session.fd, ackId), ackId);
  }

  message(session: NativeSession, text: string, isBinary: boolean): void {
    // The published JS client's heartbeat is a 2-byte binary frame: an answer would reach the app.
    if (isBinary) return;
    // One arrives for every frame a socket gets with --ack: the commonest frame of all, and it
    // answers nothing, so it need not wait behind a frame still being handled either.
    const ackId = plainAckId(text);
    if (ackId !== undefined) return this.hub.acknowledge(session, ackId);
    if (session.busy) {
      const { maxBacklogBytes } = this.limits;
      const backlog = (session.backlog ??= []);
      if (backlog.length >= MAX_BACKLOG_FRAMES || session.backlogBytes + text.length > maxBacklogBytes) {
        new ActionContext(session, this.hub).reply('error', FrameErrors.backlogFull(MAX_BACKLOG_FRAMES, maxBacklogBytes));
        return;
      }
      backlog.push(text);
      session.backlogBytes += text.length;
      return;
    }
    this.process(session, text);
  }

  private process(session: NativeSession, text: string): void {
    let pending: void | Promise<void>;
    try {
      pending = this.run(session, text);
    } catch (error) {
      this.fail(session, error);
      return;
    }
    if (!pending) return;
    session.busy = true;
    pending
      .catch((error: unknown) => this.fail(session, error))
      .finally(() => {
        session.busy = false;
        while (!session.busy && session.backlog !== undefined && session.backlog.length > 0) {
          const next = session.backlog.shift()!;
          session.backlogBytes -= next.length;
          this.process(session, next);
        }
        if (session.backlog?.length === 0) session.backlog = undefined;
      });
  }

  private run(session: NativeSession, text: string): void | Promise<void> {
    const context = new ActionContext(session, this.hub, text.length);
    const { maxJsonDepth } = this.limits;
    if (nestsDeeperThan(text, maxJsonDepth)) return context.reply('error', FrameErrors.tooDeep(maxJsonDepth));
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (typeof parsed !== 'object' || parsed === null) {
      // PHP clients send plain text and expect it echoed as a base-action.
      return context.reply('base-action', text);
    }
    if (Array.isArray(parsed)) return context.reply('error', FrameErrors.notAnObject);
    const frame = parsed as Record<string, unknown>;
    const name = frame['action'];
    if (name === undefined || name === null) return context.reply('error', FrameErrors.actionMissing);
    if (typeof name !== 'string') return context.reply('error', FrameErrors.actionNotString);
    const action = this.actions.get(name);
    if (!action) return context.reply('error', FrameErrors.unknownAction(name));

    const clientId = frame['id'];
    if (name !== 'acknowledge-action' && (typeof clientId === 'string' || typeof clientId === 'number')) {
      this.hub.send(session, acknowledgeReply(String(clientId)));
    }
    const invalid = action.validate?.(frame as ClientFrame);
    if (invalid !== undefined) {
      return typeof invalid === 'string' ? context.reply(name, invalid) : context.reply('error', invalid.error);
    }
    return action.handle(context, frame as ClientFrame);
  }

  /** Answers a frame that was refused before it was read (flood control). */
  refuse(session: NativeSession, why: string): void {
    new ActionContext(session, this.hub).reply('error', why);
  }

  private fail(session: NativeSession, error: unknown): void {
    // Redis is away (several nodes): the node logged that once; the client gets the reason.
    if (error instanceof ServiceUnavailable) return new ActionContext(session, this.hub).reply('error', error.message);
    this.log.error({ err: error, fd: session.fd }, 'action failed');
    new ActionContext(session, this.hub).reply('error', FrameErrors.internal);
  }
}
