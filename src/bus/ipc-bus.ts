import type { PrimaryLink } from '../ipc/primary-link.js';
import type { Bus, Publication } from './bus.js';

/** Bus over the cluster channel: the primary's router forwards to the workers with subscribers. */
export class IpcBus implements Bus {
  constructor(private readonly link: PrimaryLink) {}

  publish(publication: Publication): void {
    this.link.send({ type: 'publish', publication });
  }

  onMessage(handler: (publication: Publication) => void): void {
    this.link.on('publish', (message) => handler(message.publication));
  }
}
