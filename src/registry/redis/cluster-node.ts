import { randomBytes } from 'node:crypto';
import { redactRedisUrls } from '../../config.js';
import { RedisNodeLink, type ControlMessage } from './node-link.js';
import type { Publication } from '../../bus/bus.js';
import type { NodeCounters } from '../engine.js';
import type { Logger } from '../../log.js';
import { connectRedis, type RedisClient } from '../../redis/connection.js';
import { RedisRegistry } from './redis-registry.js';

/** A node stamps itself alive this often… */
const HEARTBEAT_MS = 2000;
/** …and is taken for dead when silent this long: its members are gone within 15 s. */
export const NODE_TTL_MS = 10_000;
/** fds a node keeps in hand, so that workers get blocks while Redis is briefly away. */
const FD_RESERVE = 16 * 1024;

export interface ClusterEvents {
  /** Redis is reachable again (or for the first time): re-register what this node holds. */
  up(): Promise<void>;
  down(): void;
  /** A publication from another node, for this node's workers. */
  publication(publication: Publication): void;
  control(message: ControlMessage): void;
  /** `node` stopped beating: this node won the right to take its state out. */
  deadNode(node: string): Promise<void>;
  /** What waits for Redis crossed its bound or came back under it (RedisNodeLink.congested). */
  pressure(): void;
}

/** Counters /metrics shows for the link to Redis. */
export type ClusterCounters = Pick<NodeCounters, 'redisDisconnects' | 'busDisconnects' | 'redisErrors' | 'nodesRemoved'>;

/**
 * This process as one node of several: the two Redis connections (commands, and
 * subscriptions), its heartbeat, and the watch on the other nodes'. Says once in the logs
 * when Redis goes away and when it is back.
 */
export class ClusterNode {
  readonly id = randomBytes(4).toString('hex');
  readonly registry: RedisRegistry;
  readonly link: RedisNodeLink;
  readonly counters: ClusterCounters = { redisDisconnects: 0, busDisconnects: 0, redisErrors: 0, nodesRemoved: 0 };
  private readonly commands: RedisClient;
  private readonly subscriber: RedisClient;
  private up = false;
  private upSince = 0;
  private everUp = false;
  private resyncing: Promise<void> | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private liveNodes = 1;
  private fdReserve: { next: number; end: number }[] = [];
  /** Highest fd handed to a worker, so that Redis can be re-seeded above it. */
  private highestFd = 0;
  private stopped = false;
  private subscribed = false;
  private overflowLogged = false;
  private readonly log: Logger;

  constructor(
    spec: string,
    prefix: string,
    log: Logger,
    private readonly events: ClusterEvents,
    /** Bytes of publications that may wait for Redis (--ipc-queue-limit). */
    pendingLimit: number,
  ) {
    this.log = log.child({ node: this.id });
    this.commands = connectRedis(spec, `conveyor-${this.id}`);
    this.subscriber = connectRedis(spec, `conveyor-${this.id}-bus`, 'subscriptions');
    this.registry = new RedisRegistry(this.commands, prefix, this.id);
    this.link = new RedisNodeLink(
      this.commands,
      this.subscriber,
      prefix,
      this.id,
      (p) => events.publication(p),
      (m) => events.control(m),
      () => this.up,
      pendingLimit,
      () => this.pressure(pendingLimit),
      () => this.overflow(pendingLimit),
    );
    const where = redactRedisUrls(spec);
    for (const client of [this.commands, this.subscriber]) {
      // ioredis reports every failed attempt; the transitions below are what the log says.
      client.on('error', () => this.counters.redisErrors++);
    }
    this.commands.on('ready', () => void this.linkUp(where));
    this.subscriber.on('ready', () => {
      this.subscribed = true;
      void this.link.resubscribe();
    });
    this.subscriber.on('close', () => this.subscriptionDown(where));
    this.commands.on('close', () => this.linkDown(where));
  }

  get redisUp(): boolean {
    return this.up;
  }

  get nodes(): number {
    return this.liveNodes;
  }

  /** Resolves once Redis answered and this node holds fds: a node cannot number sockets before. */
  async start(): Promise<void> {
    // The first connection takes a moment: only a Redis that stays silent is worth a line.
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        await this.refillFds();
        break;
      } catch (error) {
        if (attempt === 10) this.log.warn({ err: (error as Error).message }, 'waiting for Redis: the node starts serving once it answers');
        await new Promise((resolve) => setTimeout(resolve, attempt < 10 ? 100 : 500));
      }
    }
    this.heartbeat = setInterval(() => void this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
    this.link.startProbe();
    await this.beat();
  }

  /** A block of fds for a worker, from the reserve; refilled from Redis in the background. */
  takeFds(count: number): { first: number; count: number } | undefined {
    const block = this.fdReserve[0];
    if (!block) {
      void this.refillFds().catch(() => {});
      return undefined;
    }
    const first = block.next;
    const n = Math.min(count, block.end - block.next);
    block.next += n;
    if (block.next >= block.end) this.fdReserve.shift();
    this.highestFd = Math.max(this.highestFd, first + n - 1);
    if (this.reserveLeft() < FD_RESERVE / 2) void this.refillFds().catch(() => {});
    return { first, count: n };
  }

  /** Waits for what is in flight, then closes both connections. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeat);
    this.link.stopProbe();
    await Promise.allSettled([this.commands.quit(), this.subscriber.quit()]);
  }

  private reserveLeft(): number {
    return this.fdReserve.reduce((sum, b) => sum + b.end - b.next, 0);
  }

  private refilling: Promise<void> | undefined;

  private refillFds(): Promise<void> {
    this.refilling ??= this.registry
      .fdBlock(FD_RESERVE)
      .then((first) => {
        this.fdReserve.push({ next: first, end: first + FD_RESERVE });
      })
      .finally(() => (this.refilling = undefined));
    return this.refilling;
  }

  private async beat(): Promise<void> {
    if (!this.up || this.stopped) return;
    try {
      const { live, dead } = await this.registry.heartbeat(NODE_TTL_MS);
      this.liveNodes = live.length;
      // After Redis was away from everyone, the others' last beats are old through no fault of
      // theirs: a node judges them only once it has been linked for a whole TTL itself.
      if (Date.now() - this.upSince < NODE_TTL_MS) return;
      for (const node of dead) {
        if (node === this.id || !(await this.registry.claim(node))) continue;
        this.log.warn({ deadNode: node }, 'a node stopped beating: taking its sockets out of their channels');
        await this.events.deadNode(node);
        await this.registry.forget(node);
        this.counters.nodesRemoved++;
      }
    } catch {
      // Redis went away mid-beat: the next beat after it is back does it again.
    }
  }

  private async linkUp(where: string): Promise<void> {
    if (this.stopped) return;
    if (!this.everUp) this.log.info({ redis: where }, 'Redis link up');
    else this.log.warn({ redis: where }, 'Redis is back: re-registering what this node holds');
    this.everUp = true;
    this.registry.reindex();
    // Redis may have lost everything: the fd counter must pass every fd this node handed out.
    this.resyncing = (async () => {
      try {
        await this.registry.reseedFds(Math.max(this.highestFd, ...this.fdReserve.map((b) => b.end)));
        this.up = true;
        this.upSince = Date.now();
        await this.registry.heartbeat(NODE_TTL_MS);
        await this.events.up();
      } catch (error) {
        this.log.warn({ err: (error as Error).message }, 'could not re-register with Redis yet');
      }
    })();
    await this.resyncing;
  }

  private pressure(limit: number): void {
    const congested = this.link.congested;
    if (!congested) this.overflowLogged = false;
    this.log.warn({ pendingBytes: this.link.counters.pendingBytes, limit }, congested ? 'too many bytes waiting for Redis: holding off heavy senders' : 'what waited for Redis went out');
    this.events.pressure();
  }

  private overflow(limit: number): void {
    if (this.overflowLogged) return;
    this.overflowLogged = true;
    this.log.error({ pendingBytes: this.link.counters.pendingBytes, limit }, 'over twice --ipc-queue-limit waiting for Redis: publications to the other nodes are dropped until it drains (counted in conveyor_node_publications_failed_total)');
  }

  /**
   * Redis closes a subscriber that falls too far behind (client-output-buffer-limit pubsub):
   * what was published until it is back never reaches this node. Said once, counted; the
   * whole link going down is linkDown's to say.
   */
  private subscriptionDown(where: string): void {
    if (!this.subscribed || this.stopped) return;
    this.subscribed = false;
    this.link.subscriptionLost();
    this.counters.busDisconnects++;
    // Both connections close when Redis goes: only a cut of the subscription alone is news.
    setTimeout(() => {
      if (this.up && !this.stopped)
        this.log.error(
          { redis: where },
          "Redis closed this node's bus subscription (it fell behind its client-output-buffer-limit, or was killed): what was published until it is back does not reach this node's members; conveyor_node_frames_missed_total counts what was missed, and with --history a rejoin with since recovers it",
        );
    }, 100).unref();
  }

  private linkDown(where: string): void {
    if (!this.up || this.stopped) return;
    this.up = false;
    this.counters.redisDisconnects++;
    this.log.error({ redis: where }, 'Redis link down: serving this node\'s own sockets; cross-node delivery, tokens and the HTTP API wait for it');
    this.events.down();
  }
}
