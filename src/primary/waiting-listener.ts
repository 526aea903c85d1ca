import { createServer, type Server } from 'node:http';

/**
 * Holds the port while a node waits for Redis before its workers can start: every request,
 * `/ready` and `/health` included, is answered 503 `{"status":"waiting for redis"}` with
 * `Retry-After`, so that a load balancer's probe and a person with curl see why, instead of a
 * refused connection. Closed (and its connections with it) before the workers bind the port.
 */
export class WaitingListener {
  private constructor(private readonly server: Server) {}

  static async open(host: string, port: number): Promise<WaitingListener | undefined> {
    const server = createServer((_req, res) => {
      res.writeHead(503, { 'Content-Type': 'application/json', 'Retry-After': '1', Connection: 'close' });
      res.end(JSON.stringify({ status: 'waiting for redis' }));
    });
    const listening = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen({ host, port }, () => resolve(true));
    });
    // Not being able to hold the port only costs the answer: the node still waits and starts.
    return listening ? new WaitingListener(server) : undefined;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
