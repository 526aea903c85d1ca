import { FrameErrors } from '../../errors.js';
import { envelope } from './envelope.js';
import type { Hub, Session } from './hub.js';
import { LOBBY_TOPIC, channelTopic } from '../../topics.js';

/** A client frame: a JSON object with a string `action`. */
export type ClientFrame = Record<string, unknown> & { action: string };

/** What a handler gets: the sender, the hub, and answers in the standard envelope. */
export class ActionContext {
  constructor(
    readonly session: Session,
    readonly hub: Hub,
    /** Characters of the client frame being handled (0 when there is none). */
    readonly frameSize = 0,
  ) {}

  /** Answers the sender: `{"action","data","fd":self}` (+ `id` when acks are on). */
  reply(action: string, data: unknown): void {
    const ackId = this.hub.newAckId();
    this.hub.send(this.session, envelope(action, data, this.session.fd, ackId), ackId);
  }

  /** Publishes `{"action","data","fd":self}` to the sender's channel (or the channel-less sockets). */
  broadcast(action: string, data: unknown, options: { includeSelf?: boolean } = {}): void {
    const ackId = this.hub.newAckId();
    const frame = envelope(action, data, this.session.fd, ackId);
    const topic = this.session.channel === null ? LOBBY_TOPIC : channelTopic(this.session.channel);
    this.publish(topic, frame, ackId, !options.includeSelf);
  }

  /**
   * Publishes a ready frame to a topic on every worker. When the server cannot take more
   * from this socket just now (its share of the link between workers is full) nothing is
   * delivered anywhere and the sender is told so.
   */
  publish(topic: string, frame: string, ackId: string | undefined, excludeSelf = false): void {
    const sent = this.hub.publish(topic, frame, { from: this.session, ...(excludeSelf ? { except: this.session } : {}), ...(ackId ? { ackId } : {}) });
    if (!sent) this.reply('error', FrameErrors.busy);
  }
}

/**
 * What `validate` finds wrong: a string is answered in the action's own envelope
 * (`{"action":name,"data":text,"fd":self}`, as PHP does); `{ error }` as an `error` action.
 */
export type ValidationResult = string | { error: string } | undefined;

/**
 * An action: built-in or registered through the API. `validate` runs before `handle`;
 * the frame reaches `handle` only when it returned undefined.
 */
export interface ActionDefinition<F extends ClientFrame = ClientFrame> {
  readonly name: string;
  validate?(frame: ClientFrame): ValidationResult;
  handle(context: ActionContext, frame: F): void | Promise<void>;
}

/** Declares an action with its frame type, for `createServer({ actions: [...] })`. */
export function defineAction<F extends ClientFrame = ClientFrame>(definition: ActionDefinition<F>): ActionDefinition {
  return definition as unknown as ActionDefinition;
}

/** True when PHP's isset() would be: present and not null. */
export function isSet(value: unknown): boolean {
  return value !== undefined && value !== null;
}
