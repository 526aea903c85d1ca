import { readFile } from 'node:fs/promises';
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

/**
 * Picks a concrete free port for `--port 0`. uSockets binds port 0 without SO_REUSEPORT,
 * so the workers could not share the port the first of them was given: they all need a
 * concrete one up front.
 */
export function pickFreePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => {
      reject(new ListenError(`cannot listen on ${host}: ${error.message}. Choose another --host.`));
    });
    probe.listen({ host, port: 0, exclusive: true }, () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Under SO_REUSEPORT each worker has its own accept queue, and Linux resets what is queued
 * at a listener when it closes unless net.ipv4.tcp_migrate_req hands it to a sibling.
 * True where that setting is on, or where the setting does not exist (not Linux).
 */
export async function listenerHandoverEnabled(): Promise<boolean> {
  try {
    return (await readFile('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8')).trim() !== '0';
  } catch {
    return process.platform !== 'linux';
  }
}
