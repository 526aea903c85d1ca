import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';

const REDIS_SERVER = '/usr/bin/redis-server';
const REDIS_CLI = '/usr/bin/redis-cli';

export interface RunningRedis {
  readonly port: number;
  readonly url: string;
  /** SIGKILL: Redis is gone at once, as in a crash. */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty (no persistence). */
  restart(): Promise<void>;
  stop(): Promise<void>;
  /** Runs redis-cli against it and returns what it printed. */
  cli(...args: string[]): string;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  server.close();
  await once(server, 'close');
  return port;
}

async function launch(port: number, dir: string, extra: string[]): Promise<ChildProcess> {
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => output.push(l));
  createInterface({ input: child.stderr! }).on('line', (l) => output.push(l));
  const exited = once(child, 'exit');
  // Ready once it answers PING.
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) break;
    const ping = spawnSync(REDIS_CLI, ['-p', String(port), 'ping'], { encoding: 'utf8' });
    // A Redis with --requirepass answers, but with NOAUTH: it is up all the same.
    if (ping.stdout.trim() === 'PONG' || ping.stdout.includes('NOAUTH')) return child;
    await Promise.race([new Promise((r) => setTimeout(r, 50)), exited]);
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server on port ${port} did not start:\n${output.join('\n')}`);
}

async function end(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  await exited;
}

/** A redis-server of its own on a free port, without persistence; stopped when `t` ends. */
export async function startRedis(t?: TestContext, extra: string[] = []): Promise<RunningRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-redis-'));
  let child: ChildProcess | undefined = await launch(port, dir, extra);
  const redis: RunningRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill: async () => {
      await end(child, 'SIGKILL');
      child = undefined;
    },
    restart: async () => {
      await end(child, 'SIGKILL');
      child = await launch(port, dir, extra);
    },
    stop: async () => {
      await end(child, 'SIGKILL');
      child = undefined;
      rmSync(dir, { recursive: true, force: true });
    },
    cli: (...args) => spawnSync(REDIS_CLI, ['-p', String(port), ...args], { encoding: 'utf8' }).stdout,
  };
  t?.after(() => redis.stop());
  return redis;
}

export interface RunningRedisCluster {
  /** The --redis value: every master's URL, comma-separated. */
  readonly url: string;
  readonly ports: number[];
  stop(): Promise<void>;
}

/** A Redis Cluster of three masters on free ports, no replicas, no persistence. */
export async function startRedisCluster(t?: TestContext): Promise<RunningRedisCluster> {
  const nodes: RunningRedis[] = [];
  for (let i = 0; i < 3; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'conveyor-redis-cluster-'));
    nodes.push(await startRedis(undefined, ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-node-timeout', '2000']));
  }
  const ports = nodes.map((n) => n.port);
  const created = spawnSync(REDIS_CLI, ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8' });
  if (created.status !== 0) throw new Error(`redis-cli --cluster create failed:\n${created.stdout}\n${created.stderr}`);
  // The cluster is usable once every master says so.
  for (const node of nodes) {
    for (let i = 0; i < 200 && !node.cli('cluster', 'info').includes('cluster_state:ok'); i++) await new Promise((r) => setTimeout(r, 50));
  }
  const cluster: RunningRedisCluster = {
    url: ports.map((p) => `redis://127.0.0.1:${p}`).join(','),
    ports,
    stop: async () => {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
  t?.after(() => cluster.stop());
  return cluster;
}
