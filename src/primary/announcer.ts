import type { WebhookPayload } from '../apps/apps.js';
import type { Publication } from '../bus/bus.js';
import type { ServerConfig } from '../config.js';
import type { PrimaryMessage } from '../ipc/messages.js';
import { presenceFrame } from '../protocol/native/envelope.js';
import { memberAddedFrame, memberRemovedFrame } from '../protocol/pusher/frames.js';
import type { EngineEvents, MembershipChange, PresenceMember, ServerHook } from '../registry/engine.js';
import { channelTopic, pusherTopic } from '../topics.js';
import type { WebhookDispatcher } from './webhooks.js';

/** What the announcer needs of the router. */
export interface Switchboard {
  /** To every worker with subscribers of the topic, and with several nodes to the others (unless `acrossNodes` is false). */
  route(publication: Publication, fromWorker: number | undefined, acrossNodes?: boolean): void;
  /** To `worker` when it is alive, else to any live one; dropped when none is. */
  toOneWorker(worker: number | undefined, message: PrimaryMessage): void;
  toEveryWorker(message: PrimaryMessage): void;
  checkFlow(): void;
  refreshReadiness(): void;
}

/**
 * The only primary module that speaks the protocols: the engine's facts become native
 * presence frames, Pusher member frames, hook calls on one worker and webhooks.
 */
export class Announcer implements EngineEvents {
  private switchboard: Switchboard | undefined;
  private nodeId: string | undefined;
  private nextAckId = 0;

  constructor(
    private readonly config: Pick<ServerConfig, 'presence' | 'presenceMaxMembers' | 'presenceMaxBytes' | 'ack'>,
    private readonly webhooks: WebhookDispatcher,
  ) {}

  /** The router, once it exists (it is made with the engine, which reports here). */
  attach(switchboard: Switchboard, nodeId: string | undefined): void {
    this.switchboard = switchboard;
    this.nodeId = nodeId;
  }

  private get to(): Switchboard {
    if (!this.switchboard) throw new Error('the announcer reports before the router is attached');
    return this.switchboard;
  }

  /** Publishes a presence change to the channel's members on every worker (and node). */
  membership(action: 'joined' | 'left', change: MembershipChange): void {
    if (!this.config.presence || (change.snapshot.count ?? change.snapshot.fds.length) === 0) return;
    // Ids are unique across nodes: an acknowledgment names one presence frame of one node.
    const ackId = this.config.ack ? `p-${this.nodeId !== undefined ? `${this.nodeId}-` : ''}${(this.nextAckId++).toString(36)}` : undefined;
    const limits = { maxMembers: this.config.presenceMaxMembers, maxBytes: this.config.presenceMaxBytes };
    const frame = presenceFrame(action === 'joined' ? 'channel-connect' : 'channel-disconnect', change.fd, change.channel, change.snapshot, limits, ackId);
    this.to.route({ topic: channelTopic(change.channel), frame, ...(ackId ? { ackId } : {}) }, undefined);
  }

  hook(hook: ServerHook): void {
    const { worker, ...message } = hook;
    this.to.toOneWorker(worker, { type: 'hook', ...message });
  }

  webhook(app: string, event: WebhookPayload): void {
    this.webhooks.add(app, event);
  }

  /** A client event, for the app's webhooks. */
  clientEvent(app: string, channel: string, event: string, data: unknown, socketId: string, userId: string | undefined): void {
    this.webhooks.add(app, { name: 'client_event', channel, event, data, socket_id: socketId, ...(userId !== undefined ? { user_id: userId } : {}) });
  }

  memberAdded(app: string, channel: string, member: PresenceMember, fd: number): void {
    this.to.route({ topic: pusherTopic(app, channel), frame: memberAddedFrame(channel, member), except: fd }, undefined);
  }

  memberRemoved(app: string, channel: string, userId: string): void {
    this.to.route({ topic: pusherTopic(app, channel), frame: memberRemovedFrame(channel, userId) }, undefined);
  }

  deliver(publication: Publication): void {
    this.to.route(publication, undefined, false);
  }

  terminate(app: string, userId: string): void {
    this.to.toEveryWorker({ type: 'pusher-terminate', app, userId });
  }

  availability(): void {
    this.to.refreshReadiness();
  }

  pressure(): void {
    this.to.checkFlow();
  }
}
