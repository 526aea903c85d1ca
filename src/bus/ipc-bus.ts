import type { PrimaryLink } from '../ipc/primary-link.js';
import type { Bus, BusPressure, Publication } from './bus.js';

/**
 * Bus over the cluster channel: the primary's router forwards to the workers with
 * subscribers. The primary tells this worker which topics other workers hold, so a
 * publication nobody else can receive never leaves the worker.
 */
export class IpcBus implements Bus {
  private readonly remote = new Set<string>();
  private primaryCongested = false;

  constructor(
    private readonly link: PrimaryLink,
    /** Bytes queued towards the primary past which the bus is congested; twice that is full. */
    private readonly queueLimit: number,
    /**
     * With several nodes every publication goes to the primary, which publishes it to Redis
     * once: only Redis knows which other nodes have members, and asking would cost more.
     */
    private readonly acrossNodes = false,
  ) {
    link.on('interest', (message) => {
      for (const topic of message.topics) {
        if (message.remote) this.remote.add(topic);
        else this.remote.delete(topic);
      }
      if (message.seq !== undefined) link.send({ type: 'interest-ack', seq: message.seq });
    });
    link.on('flow', (message) => (this.primaryCongested = message.congested));
  }

  crosses(topic: string): boolean {
    return this.acrossNodes || this.remote.has(topic);
  }

  pressure(): BusPressure {
    const queued = this.link.queuedBytes;
    if (queued > this.queueLimit * 2) return 'full';
    return queued > this.queueLimit || this.primaryCongested ? 'congested' : 'clear';
  }

  publish(publication: Publication): void {
    this.link.send({ type: 'publish', publication });
  }

  onMessage(handler: (publication: Publication) => void): void {
    this.link.on('publish', (message) => handler(message.publication));
  }
}
