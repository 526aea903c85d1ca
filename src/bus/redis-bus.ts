import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { Publication } from '../ipc/messages.js';
import { isCluster, type RedisClient } from '../redis/connection.js';
import { withId } from '../history/sequenced-frame.js';

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
  /** Markers this node published and waits to see come back (history reads). */
  private readonly markers = new Map<string, () => void>();
  /** Topics whose publications wait while a history read answers (see marker()). */
  private readonly holding = new Map<string, { readers: number; held: Publication[] }>();
  private readonly controlChannel: string;
  readonly counters: BusCounters = { published: 0, received: 0, failed: 0 };

  constructor(
    private readonly pub: RedisClient,
    private readonly sub: RedisClient,
    prefix: string,
    private readonly node: string,
    private readonly onPublication: (publication: Publication) => void,
    private readonly onControl: (message: ControlMessage) => void,
    /** False while the link is down: nothing is handed to the client then, so nothing stale goes out after a reconnect. */
    private readonly linked: () => boolean,
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
    await this.call('subscribe', [this.channelOf(topic)]);
  }

  unsubscribe(topic: string): void {
    if (!this.topics.delete(topic)) return;
    void this.call('unsubscribe', [this.channelOf(topic)]);
  }

  /** Subscribes again to everything (after a reconnection: Redis forgot the connection's subscriptions). */
  async resubscribe(): Promise<void> {
    const channels = [this.controlChannel, ...[...this.topics].map((topic) => this.channelOf(topic))];
    for (let i = 0; i < channels.length; i += 500) await this.call('subscribe', channels.slice(i, i + 500));
  }

  publish(publication: Publication): void {
    this.send(this.channelOf(publication.topic), `${this.node}\n${JSON.stringify(publication)}`);
  }

  control(message: ControlMessage): void {
    this.send(this.controlChannel, `${this.node}\n${JSON.stringify(message)}`);
  }

  private send(channel: string, message: string): void {
    if (!this.linked()) {
      this.counters.failed++;
      return;
    }
    const sent = this.sharded ? (this.pub as Cluster).spublish(channel, message) : (this.pub as Redis).publish(channel, message);
    this.counters.published++;
    sent.catch(() => {
      this.counters.published--;
      this.counters.failed++;
    });
  }

  /** A topic's channel; the braces put it in the slot of the topic's history keys (RedisRegistry.busChannel). */
  private channelOf(topic: string): string {
    return `${this.channelPrefix}{${topic}}`;
  }

  /** Whether this node subscribes to `topic` (it has members of it). */
  holds(topic: string): boolean {
    return this.topics.has(topic);
  }

  /**
   * A marker for a history read of `topic`. `arrived` resolves when it comes back on the bus
   * (every frame published before the read has been delivered here then), or after `ms`;
   * from its arrival the topic's publications wait here until `release()`, so that the
   * reader can answer before any later frame goes by.
   */
  marker(topic: string, ms: number): { text: string; arrived: Promise<void>; release(): void } {
    const text = `!\n${this.node}:${randomBytes(6).toString('hex')}`;
    let engaged = false;
    const arrived = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.markers.delete(text);
        resolve();
      }, ms);
      timer.unref();
      this.markers.set(text, () => {
        clearTimeout(timer);
        this.markers.delete(text);
        engaged = true;
        const holding = this.holding.get(topic);
        if (holding) holding.readers++;
        else this.holding.set(topic, { readers: 1, held: [] });
        resolve();
      });
    });
    // Several reads of one topic may overlap: the frames flow again when the last one answered.
    const release = (): void => {
      const holding = this.holding.get(topic);
      if (!engaged || !holding) return;
      engaged = false;
      if (--holding.readers > 0) return;
      this.holding.delete(topic);
      for (const publication of holding.held) this.onPublication(publication);
    };
    return { text, arrived, release };
  }

  /** A numbered frame ("*", seq, epoch, frame, the rest of the publication): every node delivers it, its publisher's too. */
  private receiveNumbered(message: string): void {
    const [, seqText, , frame, rest] = message.split('\n', 5) as [string, string, string, string, string];
    const seq = Number(seqText);
    const publication = { ...(JSON.parse(rest) as Omit<Publication, 'frame'>), frame, seq };
    publication.frame = withId(frame, publication.ackId);
    this.counters.received++;
    const holding = this.holding.get(publication.topic);
    if (holding) holding.held.push(publication);
    else this.onPublication(publication);
  }

  private receive(channel: string, message: string): void {
    if (message.startsWith('!\n')) return this.markers.get(message)?.();
    if (message.startsWith('*\n')) {
      try {
        return this.receiveNumbered(message);
      } catch {
        return;
      }
    }
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
