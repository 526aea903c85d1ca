import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { Publication } from '../../bus/bus.js';
import type { NodeCounters } from '../engine.js';
import { isCluster, type RedisClient } from '../../redis/connection.js';
import { withId } from '../../history/sequenced-frame.js';

/** Messages every node hears, beside the publications. */
export type ControlMessage = { op: 'pusher-terminate'; app: string; userId: string };

export type BusCounters = Pick<NodeCounters, 'published' | 'received' | 'failed' | 'missed' | 'pendingBytes' | 'lagMs'>;

/** How often a node sends itself a probe through the bus, to know how far behind its subscription runs. */
const PROBE_MS = 2000;
/** Topics whose publication count a node keeps; past it the least recently published starts again at 1. */
const NUMBERED_TOPICS = 100_000;
/** A probe out this long is taken for lost and sent again. */
const PROBE_LOST_MS = 30_000;

/**
 * The bus between nodes: one Redis publish per publication, on a channel per topic, and a
 * node subscribes only to the topics it has members of. On a Redis Cluster it is sharded
 * pub/sub (SPUBLISH/SSUBSCRIBE): each topic's channel lives on its own shard.
 */
export class RedisNodeLink {
  private readonly topics = new Set<string>();
  private readonly sharded: boolean;
  private readonly channelPrefix: string;
  /** Markers this node published and waits to see come back (history reads). */
  private readonly markers = new Map<string, () => void>();
  /** Topics whose publications wait while a history read answers (see marker()). */
  private readonly holding = new Map<string, { readers: number; held: Publication[] }>();
  private readonly controlChannel: string;
  readonly counters: BusCounters = { published: 0, received: 0, failed: 0, missed: 0, pendingBytes: 0, lagMs: 0 };
  /** The last numbered frame seen of each held topic, to count the ones that never came. */
  private readonly lastSeen = new Map<string, { epoch: string; seq: number }>();
  /** The number of the last publication this node sent of each topic (NUMBERED_TOPICS at most). */
  private readonly sentSeq = new Map<string, number>();
  /** Of each held topic, the last number seen from each node that published to it. */
  private readonly lastFrom = new Map<string, Map<string, number>>();
  private probe: NodeJS.Timeout | undefined;
  private probeSentAt = 0;
  private overBound = false;

  constructor(
    private readonly pub: RedisClient,
    private readonly sub: RedisClient,
    prefix: string,
    private readonly node: string,
    private readonly onPublication: (publication: Publication) => void,
    private readonly onControl: (message: ControlMessage) => void,
    /** False while the link is down: nothing is handed to the client then, so nothing stale goes out after a reconnect. */
    private readonly linked: () => boolean,
    /**
     * Bytes of publications that may wait for Redis to answer. Past it the node is congested
     * (heavy senders get error frames); past twice it publications fail, counted.
     */
    private readonly pendingLimit: number,
    /** The backlog towards Redis crossed its bound, or came back under half of it. */
    private readonly onPressure: () => void,
    private readonly onOverflow: () => void,
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
    this.lastSeen.delete(topic);
    this.lastFrom.delete(topic);
    void this.call('unsubscribe', [this.channelOf(topic)]);
  }

  /** Subscribes again to everything (after a reconnection: Redis forgot the connection's subscriptions). */
  async resubscribe(): Promise<void> {
    const channels = [this.controlChannel, ...[...this.topics].map((topic) => this.channelOf(topic))];
    for (let i = 0; i < channels.length; i += 500) await this.call('subscribe', channels.slice(i, i + 500));
  }

  /**
   * Publishes to the other nodes, numbered per topic from this node ("node\nn\njson"): a
   * receiver that sees a number jump knows Redis dropped what was between, and counts it.
   */
  publish(publication: Publication): void {
    const { topic } = publication;
    const n = (this.sentSeq.get(topic) ?? 0) + 1;
    if (!this.send(this.channelOf(topic), `${this.node}\n${n}\n${JSON.stringify(publication)}`)) return;
    // Most recently published last, so that the oldest goes first past the bound.
    this.sentSeq.delete(topic);
    this.sentSeq.set(topic, n);
    if (this.sentSeq.size > NUMBERED_TOPICS) this.sentSeq.delete(this.sentSeq.keys().next().value!);
  }

  control(message: ControlMessage): void {
    this.send(this.controlChannel, `${this.node}\n${JSON.stringify(message)}`);
  }

  /** Whether what waits for Redis is past its bound (cleared under half of it, so that it does not flap). */
  get congested(): boolean {
    return this.overBound;
  }

  /** Starts the probe that measures how far behind this node's subscription runs. */
  startProbe(): void {
    this.probe = setInterval(() => {
      if (!this.linked()) return;
      const now = Date.now();
      if (this.probeSentAt !== 0) {
        // Still out: the subscription is at least this far behind.
        this.counters.lagMs = now - this.probeSentAt;
        if (now - this.probeSentAt < PROBE_LOST_MS) return;
      }
      this.probeSentAt = now;
      const probe = `~\n${this.node}`;
      const sent = this.sharded ? (this.pub as Cluster).spublish(this.controlChannel, probe) : (this.pub as Redis).publish(this.controlChannel, probe);
      sent.catch(() => (this.probeSentAt = 0));
    }, PROBE_MS);
    this.probe.unref();
  }

  stopProbe(): void {
    clearInterval(this.probe);
  }

  /** The subscription was cut: a probe in flight will not come back, and gaps from here on are counted. */
  subscriptionLost(): void {
    this.probeSentAt = 0;
  }

  /**
   * Runs `start` (a command carrying about `bytes` towards Redis) with its bytes counted as
   * waiting until Redis answers. Past twice the bound it is not run: undefined, and the
   * caller counts the publication as failed.
   */
  carry<T>(bytes: number, start: () => Promise<T>): Promise<T> | undefined {
    if (this.counters.pendingBytes > 2 * this.pendingLimit) {
      this.onOverflow();
      return undefined;
    }
    this.counters.pendingBytes += bytes;
    this.checkPressure();
    const work = start();
    const settle = (): void => {
      this.counters.pendingBytes -= bytes;
      this.checkPressure();
    };
    work.then(settle, settle);
    return work;
  }

  /** Hands a message to Redis; false (counted as failed) when it could not be. */
  private send(channel: string, message: string): boolean {
    const sent = this.linked() ? this.carry(message.length, () => (this.sharded ? (this.pub as Cluster).spublish(channel, message) : (this.pub as Redis).publish(channel, message))) : undefined;
    if (!sent) {
      this.counters.failed++;
      return false;
    }
    this.counters.published++;
    sent.catch(() => {
      this.counters.published--;
      this.counters.failed++;
    });
    return true;
  }

  private checkPressure(): void {
    const over = this.overBound ? this.counters.pendingBytes > this.pendingLimit / 2 : this.counters.pendingBytes > this.pendingLimit;
    if (over === this.overBound) return;
    this.overBound = over;
    this.onPressure();
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
    const [, seqText, epoch, frame, rest] = message.split('\n', 5) as [string, string, string, string, string];
    const seq = Number(seqText);
    const publication = { ...(JSON.parse(rest) as Omit<Publication, 'frame'>), frame, seq };
    this.countGap(publication.topic, epoch, seq);
    publication.frame = withId(frame, publication.ackId);
    this.counters.received++;
    const holding = this.holding.get(publication.topic);
    if (holding) holding.held.push(publication);
    else this.onPublication(publication);
  }

  /** A node's publications of one topic come numbered in order: a jump means Redis dropped the ones between. */
  private countGapFrom(node: string, topic: string, n: number): void {
    if (!this.topics.has(topic)) return;
    let nodes = this.lastFrom.get(topic);
    if (!nodes) this.lastFrom.set(topic, (nodes = new Map()));
    const last = nodes.get(node);
    if (last !== undefined && n > last + 1) this.counters.missed += n - last - 1;
    // Lower than before: that node restarted its numbering (a restart, or the topic left its bound).
    nodes.set(node, n);
  }

  /** Frames of one topic come numbered in order: a jump means Redis dropped the ones between. */
  private countGap(topic: string, epoch: string, seq: number): void {
    if (!this.topics.has(topic)) return;
    const last = this.lastSeen.get(topic);
    if (last && last.epoch === epoch && seq > last.seq + 1) this.counters.missed += seq - last.seq - 1;
    if (last && last.epoch === epoch) last.seq = Math.max(last.seq, seq);
    else this.lastSeen.set(topic, { epoch, seq });
  }

  private receive(channel: string, message: string): void {
    if (message.startsWith('!\n')) return this.markers.get(message)?.();
    if (message.startsWith('~\n')) {
      if (message.slice(2) === this.node && this.probeSentAt !== 0) {
        this.counters.lagMs = Date.now() - this.probeSentAt;
        this.probeSentAt = 0;
      }
      return;
    }
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
    let body = message.slice(newline + 1);
    try {
      if (channel === this.controlChannel) return this.onControl(JSON.parse(body) as ControlMessage);
      // Numbered per topic by its node (a node of an earlier version sends the JSON alone).
      let n: number | undefined;
      if (!body.startsWith('{')) {
        const second = body.indexOf('\n');
        n = Number(body.slice(0, second));
        body = body.slice(second + 1);
      }
      const publication = JSON.parse(body) as Publication;
      if (n !== undefined) this.countGapFrom(message.slice(0, newline), publication.topic, n);
      this.counters.received++;
      this.onPublication(publication);
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
