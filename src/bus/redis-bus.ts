import type { Cluster, Redis } from 'ioredis';
import type { Publication } from '../ipc/messages.js';
import { isCluster, type RedisClient } from '../redis/connection.js';

/** Messages every node hears, beside the publications. */
export type ControlMessage = { op: 'pusher-terminate'; app: string; userId: string };

export interface BusCounters {
  /** Publications sent to the other nodes. */
  published: number;
  /** Publications received from the other nodes. */
  received: number;
  /** Publications that could not cross because Redis was away. */
  failed: number;
}

/**
 * The bus between nodes: one Redis publish per publication, on a channel per topic, and a
 * node subscribes only to the topics it has members of. On a Redis Cluster it is sharded
 * pub/sub (SPUBLISH/SSUBSCRIBE): each topic's channel lives on its own shard.
 */
export class RedisBus {
  private readonly topics = new Set<string>();
  private readonly sharded: boolean;
  private readonly channelPrefix: string;
  private readonly controlChannel: string;
  readonly counters: BusCounters = { published: 0, received: 0, failed: 0 };

  constructor(
    private readonly pub: RedisClient,
    private readonly sub: RedisClient,
    prefix: string,
    private readonly node: string,
    private readonly onPublication: (publication: Publication) => void,
    private readonly onControl: (message: ControlMessage) => void,
  ) {
    this.sharded = isCluster(sub);
    this.channelPrefix = `${prefix}:b:`;
    this.controlChannel = `${prefix}:control`;
    const receive = (channel: string, message: string): void => this.receive(channel, message);
    sub.on(this.sharded ? 'smessage' : 'message', receive);
  }

  /** Subscribes to a topic this node now has members of; resolves once Redis confirmed it (or could not). */
  async subscribe(topic: string): Promise<void> {
    this.topics.add(topic);
    await this.call('subscribe', [this.channelPrefix + topic]);
  }

  unsubscribe(topic: string): void {
    if (!this.topics.delete(topic)) return;
    void this.call('unsubscribe', [this.channelPrefix + topic]);
  }

  /** Subscribes again to everything (after a reconnection: Redis forgot the connection's subscriptions). */
  async resubscribe(): Promise<void> {
    const channels = [this.controlChannel, ...[...this.topics].map((topic) => this.channelPrefix + topic)];
    for (let i = 0; i < channels.length; i += 500) await this.call('subscribe', channels.slice(i, i + 500));
  }

  publish(publication: Publication): void {
    this.send(this.channelPrefix + publication.topic, `${this.node}\n${JSON.stringify(publication)}`);
  }

  control(message: ControlMessage): void {
    this.send(this.controlChannel, `${this.node}\n${JSON.stringify(message)}`);
  }

  private send(channel: string, message: string): void {
    const sent = this.sharded ? (this.pub as Cluster).spublish(channel, message) : (this.pub as Redis).publish(channel, message);
    this.counters.published++;
    sent.catch(() => {
      this.counters.published--;
      this.counters.failed++;
    });
  }

  private receive(channel: string, message: string): void {
    const newline = message.indexOf('\n');
    // This node's own publications were delivered locally already.
    if (newline < 0 || message.slice(0, newline) === this.node) return;
    const body = message.slice(newline + 1);
    try {
      if (channel === this.controlChannel) return this.onControl(JSON.parse(body) as ControlMessage);
      this.counters.received++;
      this.onPublication(JSON.parse(body) as Publication);
    } catch {
      // Another deployment's message under the same prefix, or a truncated one: not ours to deliver.
    }
  }

  private async call(op: 'subscribe' | 'unsubscribe', channels: string[]): Promise<void> {
    if (channels.length === 0) return;
    try {
      if (this.sharded) {
        // A Cluster's sharded subscriptions are per slot: one command per channel.
        const cluster = this.sub as Cluster;
        await Promise.all(channels.map((channel) => (op === 'subscribe' ? cluster.ssubscribe(channel) : cluster.sunsubscribe(channel))));
      } else if (op === 'subscribe') await (this.sub as Redis).subscribe(...channels);
      else await (this.sub as Redis).unsubscribe(...channels);
    } catch {
      // Redis is away: resubscribe() puts everything back when it returns.
    }
  }
}
