import type { PrimaryLink } from '../ipc/primary-link.js';
import type { DashboardStats, RegistryRequest, RegistryResults, ServerStats } from '../ipc/messages.js';
import type { ChannelStats, PresenceMember, PusherJoinResult } from './pusher-registry.js';
import type { Registry } from './registry.js';
import { RosterReceiver } from '../ipc/roster-share.js';
import type { Replay, ReplayRequest } from '../history/sequenced-frame.js';

/** The registry in the primary, reached over the cluster channel. */
export class IpcRegistry implements Registry {
  private readonly rosters = new RosterReceiver();

  constructor(private readonly link: PrimaryLink) {}

  private ask<O extends RegistryRequest['op']>(body: Extract<RegistryRequest, { op: O }>, onArrival?: (result: RegistryResults[O]) => void): Promise<RegistryResults[O]> {
    return this.link.request<RegistryResults[O]>({ kind: 'registry', body }, onArrival);
  }

  open(fd: number, address?: string, native = true, pusherApp?: string): void {
    this.link.send({ type: 'open', fd, native, ...(address !== undefined ? { address } : {}), ...(pusherApp !== undefined ? { pusherApp } : {}) });
  }

  admitAddress(address: string, limit: number): Promise<boolean> {
    return this.ask({ op: 'admit-address', address, limit });
  }

  releaseAddress(address: string): void {
    this.link.send({ type: 'release-address', address });
  }

  close(fd: number): void {
    this.link.send({ type: 'close', fd });
  }

  async join(fd: number, channel: string): Promise<void> {
    await this.ask({ op: 'join', fd, channel });
  }

  async leave(fd: number): Promise<void> {
    await this.ask({ op: 'leave', fd });
  }

  async assoc(fd: number, userId: string | number): Promise<void> {
    await this.ask({ op: 'assoc', fd, userId });
  }

  mintToken(channel: string | null): Promise<{ token: string } | { retryAfter: number }> {
    return this.ask({ op: 'mint-token', channel });
  }

  admitToken(token: string): Promise<boolean> {
    return this.ask({ op: 'admit-token', token });
  }

  consumeToken(token: string, channel: string): Promise<boolean> {
    return this.ask({ op: 'consume-token', token, channel });
  }

  hasMembers(channel: string): Promise<boolean> {
    return this.ask({ op: 'has-members', channel });
  }

  historyReplay(request: ReplayRequest, onArrival?: (replay: Replay) => void): Promise<Replay> {
    const body = {
      op: 'history-replay' as const,
      channel: request.channel,
      since: request.since,
      ...(request.epoch !== undefined ? { epoch: request.epoch } : {}),
      ...(request.limit !== undefined ? { limit: request.limit } : {}),
      ...(request.maxBytes !== undefined ? { maxBytes: request.maxBytes } : {}),
    };
    return this.link.request<Replay>({ kind: 'registry', body }, onArrival);
  }

  async historyPublish(channel: string, frame: string, ackId: string | undefined): Promise<number> {
    return (await this.ask({ op: 'history-publish', channel, frame, ...(ackId !== undefined ? { ackId } : {}) })).seq;
  }

  stats(): Promise<ServerStats> {
    return this.ask({ op: 'stats' });
  }

  dashboard(): Promise<DashboardStats> {
    return this.ask({ op: 'dashboard' });
  }

  pusherOpen(fd: number, app: string, maxConnections: number): Promise<boolean> {
    return this.ask({ op: 'pusher-open', fd, app, maxConnections });
  }

  async pusherJoin(fd: number, channel: string, member: PresenceMember | undefined, maxMembers: number): Promise<PusherJoinResult> {
    // Taken as it arrives, in order: the next answer may name this roster by its key alone.
    let presence: string | undefined;
    let lost: unknown;
    const answer = await this.ask(member ? { op: 'pusher-join', fd, channel, member, maxMembers } : { op: 'pusher-join', fd, channel, maxMembers }, (result) => {
      // Inside the IPC handler: a throw here would end the worker, so it fails this join alone.
      try {
        if (result.ok && result.roster) presence = this.rosters.take(result.roster);
      } catch (error) {
        lost = error;
      }
    });
    if (lost !== undefined) throw lost;
    if (!answer.ok) return answer;
    const { roster: _shared, ...rest } = answer;
    return presence !== undefined ? { ...rest, presence } : rest;
  }

  async pusherLeave(fd: number, channel: string): Promise<void> {
    await this.ask({ op: 'pusher-leave', fd, channel });
  }

  async pusherSignin(fd: number, userId: string): Promise<void> {
    await this.ask({ op: 'pusher-signin', fd, userId });
  }

  pusherRemember(app: string, channel: string, frame: string): void {
    this.link.send({ type: 'pusher-cache', app, channel, frame });
  }

  pusherChannels(app: string, prefix: string, userCount: boolean): Promise<Record<string, { user_count?: number }>> {
    return this.ask({ op: 'pusher-channels', app, prefix, userCount });
  }

  pusherChannel(app: string, channel: string): Promise<ChannelStats> {
    return this.ask({ op: 'pusher-channel', app, channel });
  }

  pusherUsers(app: string, channel: string): Promise<string[]> {
    return this.ask({ op: 'pusher-users', app, channel });
  }

  async pusherTerminate(app: string, userId: string): Promise<void> {
    await this.ask({ op: 'pusher-terminate', app, userId });
  }

  async groupJoin(fd: number, topic: string): Promise<void> {
    await this.ask({ op: 'group-join', fd, topic });
  }

  async groupLeave(fd: number, topic: string): Promise<void> {
    await this.ask({ op: 'group-leave', fd, topic });
  }
}
