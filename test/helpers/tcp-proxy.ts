import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import type { TestContext } from 'node:test';

export interface TcpProxy {
  readonly port: number;
  /** Cuts every connection through it, as a network that drops: both ends see a reset. */
  cut(): void;
  /** New connections go to `port` from now on (a load balancer moving to another node). */
  retarget(port: number): void;
}

/** A TCP proxy on a free port towards `target`, stopped when `t` ends. */
export async function startTcpProxy(t: TestContext, target: number): Promise<TcpProxy> {
  let upstream = target;
  const pairs = new Set<[Socket, Socket]>();
  const server = createServer((client) => {
    const server = connect(upstream, '127.0.0.1');
    const pair: [Socket, Socket] = [client, server];
    pairs.add(pair);
    client.pipe(server).pipe(client);
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      server.destroy();
    };
    client.on('error', end).on('close', end);
    server.on('error', end).on('close', end);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const [a, b] of pairs) a.destroy(), b.destroy();
    server.close();
  });
  return {
    port: (server.address() as { port: number }).port,
    cut: () => {
      for (const [a, b] of pairs) a.resetAndDestroy(), b.resetAndDestroy();
      pairs.clear();
    },
    retarget: (port) => (upstream = port),
  };
}
