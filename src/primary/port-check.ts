import { createServer } from 'node:net';
import { ListenError } from '../errors.js';

/**
 * Fails when something already listens on host:port. The workers bind with SO_REUSEPORT,
 * so without this a second server started on the same port would silently share it.
 */
export function assertPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => {
      const why = error.code === 'EADDRINUSE' ? 'the address is in use' : error.code === 'EACCES' ? 'permission denied' : error.message;
      reject(new ListenError(`cannot listen on ${host}:${port}: ${why}. Stop the other server or choose another --port or --host.`));
    });
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}
