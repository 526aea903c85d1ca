import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolvePusherApps, type PusherApp } from './apps/apps.js';
import { ConfigError } from './errors.js';
import { addressResolver } from './transport/client-address.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** The validated server configuration, passed down to every module that needs it. */
export interface ServerConfig {
  host: string;
  port: number;
  workers: number;
  taskWorkers: number;
  presence: boolean;
  presenceMaxMembers: number;
  /** Bytes; presence frames longer than this carry a count instead of the member list. */
  presenceMaxBytes: number;
  broadcastSelf: boolean;
  ack: boolean;
  ackAttempts: number;
  /** Seconds. */
  ackTimeout: number;
  /** Unacknowledged messages one socket may have before it is closed with 1008. */
  ackMaxPending: number;
  /** Bytes of unacknowledged frames one socket may have before it is closed with 1008. */
  ackMaxPendingBytes: number;
  token: string | undefined;
  /** Seconds. */
  tempTokenTtl: number;
  /** Live temporary tokens the server keeps at once; past it POST /conveyor/auth answers 503. */
  tempTokenMax: number;
  /** A second token that reads /health and /metrics when --token is set (for scrapers and probes). */
  metricsToken: string | undefined;
  /** Bytes. */
  maxPayload: number;
  /** Seconds; 0 disables. */
  idleTimeout: number;
  /** Seconds. */
  shutdownTimeout: number;
  /** Bytes of HTTP request body accepted by the HTTP endpoints. */
  maxHttpBody: number;
  /** Open sockets per server, shared evenly by the workers; 0 = no limit. */
  maxConnections: number;
  /** Open sockets per remote address across the server; 0 = no limit. */
  maxConnectionsPerIp: number;
  /** Messages per second per socket, on average; 0 = no limit. */
  messageRate: number;
  /** Messages a socket may send at once above the rate; 0 = twice the rate. */
  messageBurst: number;
  maxJsonDepth: number;
  /** Bytes queued for one socket before it counts as a slow consumer. */
  maxBackpressure: number;
  /** Bytes a worker may have queued towards the other workers before heavy senders are refused. */
  ipcQueueLimit: number;
  slowConsumer: SlowConsumerPolicy;
  allowedOrigins: string;
  /** Proxies (addresses, CIDRs) whose X-Forwarded-For / X-Real-IP name the client; empty = none. */
  trustProxy: string;
  /** Seconds between SIGTERM and closing, while GET /ready answers 503. */
  drainDelay: number;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  tlsPassphrase: string | undefined;
  demo: boolean;
  /** Serve the live dashboard at /conveyor/dashboard. */
  dashboard: boolean;
  logLevel: LogLevel;
  /** Where every process's log lines go instead of stdout. */
  logFile: string | undefined;
  /** Rotate past this size ('10m', '500k', '1g'); '' = not by size. */
  logRotateSize: string;
  logRotateDaily: boolean;
  /** Rotated files kept beside the current one. */
  logRotateKeep: number;
  /** `ID:KEY:SECRET` of each Pusher app given by flag. */
  pusherApp: string[] | undefined;
  /** Client events on for the apps given by --pusher-app. */
  pusherClientEvents: boolean;
  /** Every Pusher app, flags and config file together, with its settings resolved. */
  pusherApps: PusherApp[];
  /** Frames kept per channel for recovery (0 = history off). */
  history: number;
  /** Seconds a kept frame lives. */
  historyTtl: number;
  historyMaxBytes: number;
  /** Redis URL (or comma-separated Redis Cluster seed URLs) that joins this node to others. */
  redis: string | undefined;
  /** Prefix of every Redis key and channel, so deployments can share a Redis. */
  redisPrefix: string;
}

export type SlowConsumerPolicy = 'close' | 'drop';

/** `list`: repeatable flag, comma-separated in the environment; `json`: a JSON value (an array in the config file). */
type Kind = 'number' | 'integer' | 'boolean' | 'string' | 'list' | 'json';

interface OptionSpec<K extends keyof ServerConfig> {
  readonly key: K;
  readonly flag: string;
  readonly kind: Kind;
  readonly default: ServerConfig[K];
  readonly describe: string;
  /** Returns why the value is invalid, or undefined. */
  readonly check?: (value: ServerConfig[K]) => string | undefined;
}

type AnyOptionSpec = { [K in keyof ServerConfig]: OptionSpec<K> }[keyof ServerConfig];

const range = (min: number, max: number) => (v: number): string | undefined =>
  v < min || v > max ? `must be between ${min} and ${max}` : undefined;
const atLeast = (min: number) => (v: number): string | undefined => (v < min ? `must be ${min} or more` : undefined);

/**
 * Every option of `conveyor start`, in one table: the CLI's help, the config-file keys,
 * the CONVEYOR_* environment names and validation all come from here.
 */
export const OPTIONS: readonly AnyOptionSpec[] = [
  { key: 'host', flag: 'host', kind: 'string', default: '127.0.0.1', describe: 'Address to listen on (0.0.0.0 for all interfaces)' },
  { key: 'port', flag: 'port', kind: 'integer', default: 8989, describe: 'TCP port for WebSocket and HTTP (0 picks a free port)', check: range(0, 65535) },
  { key: 'workers', flag: 'workers', kind: 'integer', default: 1, describe: 'Event worker processes (0 = one per CPU)', check: range(0, 256) },
  { key: 'taskWorkers', flag: 'task-workers', kind: 'integer', default: 1, describe: 'Task threads for fanout and acknowledgment timers', check: range(1, 256) },
  { key: 'presence', flag: 'presence', kind: 'boolean', default: false, describe: 'Send presence frames to channel members on join, leave and close' },
  { key: 'presenceMaxMembers', flag: 'presence-max-members', kind: 'integer', default: 1000, describe: 'Above this many members, presence frames carry a count instead of fds', check: atLeast(1) },
  { key: 'presenceMaxBytes', flag: 'presence-max-bytes', kind: 'integer', default: 64 * 1024, describe: 'Presence frames longer than this many bytes carry a count instead of fds and user ids', check: range(256, 64 * 1024 * 1024) },
  { key: 'broadcastSelf', flag: 'broadcast-self', kind: 'boolean', default: false, describe: 'Deliver broadcast-action to its sender too' },
  { key: 'ack', flag: 'ack', kind: 'boolean', default: false, describe: 'Acknowledgments: pushed frames carry an id and are re-sent until acknowledged' },
  { key: 'ackAttempts', flag: 'ack-attempts', kind: 'integer', default: 3, describe: 'Re-sends of an unacknowledged frame before it is given up', check: range(0, 100) },
  { key: 'ackTimeout', flag: 'ack-timeout', kind: 'number', default: 0.5, describe: 'Seconds before an unacknowledged frame is re-sent, and between re-sends: the least wait; it stretches while acknowledgments take longer to come back, and a socket still acknowledging, in order, what came before the frame is not re-sent to yet', check: range(0.01, 3600) },
  { key: 'ackMaxPending', flag: 'ack-max-pending', kind: 'integer', default: 1024, describe: 'Unacknowledged messages one socket may have; past it the socket gets an error frame and is closed with 1008', check: range(1, 1_000_000) },
  { key: 'ackMaxPendingBytes', flag: 'ack-max-pending-bytes', kind: 'integer', default: 4 * 1024 * 1024, describe: 'Bytes of unacknowledged frames one socket may have; past it the socket gets an error frame and is closed with 1008', check: range(1024, 1024 * 1024 * 1024) },
  { key: 'token', flag: 'token', kind: 'string', default: undefined, describe: 'Server token: required on the handshake (?token=), for fanout and channel auth' },
  { key: 'tempTokenTtl', flag: 'temp-token-ttl', kind: 'number', default: 60, describe: 'Seconds a temporary token from POST /conveyor/auth stays valid', check: range(1, 3600) },
  { key: 'tempTokenMax', flag: 'temp-token-max', kind: 'integer', default: 100_000, describe: 'Live temporary tokens kept at once; past it POST /conveyor/auth answers 503 with Retry-After', check: range(1, 10_000_000) },
  { key: 'metricsToken', flag: 'metrics-token', kind: 'string', default: undefined, describe: 'With --token: a second token (?token= or Authorization: Bearer) that reads only GET /health and GET /metrics' },
  { key: 'maxPayload', flag: 'max-payload', kind: 'integer', default: 65536, describe: 'Largest incoming WebSocket message in bytes; larger closes with 1009', check: range(64, 64 * 1024 * 1024) },
  { key: 'idleTimeout', flag: 'idle-timeout', kind: 'integer', default: 120, describe: 'Seconds of silence before a socket is closed; the server pings before (0 disables, else 8 or more)', check: (v) => (v !== 0 && v < 8 ? 'must be 0 (off) or 8 or more' : v > 960 ? 'must be 960 or less' : undefined) },
  { key: 'drainDelay', flag: 'drain-delay', kind: 'number', default: 0, describe: 'Seconds between SIGTERM/SIGINT and closing connections, while GET /ready answers 503 so load balancers stop sending new ones', check: range(0, 3600) },
  { key: 'shutdownTimeout', flag: 'shutdown-timeout', kind: 'number', default: 10, describe: 'Seconds to let sockets drain on SIGTERM/SIGINT before exiting', check: range(0, 3600) },
  { key: 'maxHttpBody', flag: 'max-http-body', kind: 'integer', default: 65536, describe: 'Largest HTTP request body in bytes; larger answers 413', check: range(64, 64 * 1024 * 1024) },
  { key: 'maxConnections', flag: 'max-connections', kind: 'integer', default: 0, describe: 'Open WebSockets per server, shared evenly by the workers; past it handshakes get 503 (0 = no limit)', check: atLeast(0) },
  { key: 'maxConnectionsPerIp', flag: 'max-connections-per-ip', kind: 'integer', default: 0, describe: 'Open WebSockets per client IP address; past it handshakes get 429 (0 = no limit; behind a proxy, give it --trust-proxy)', check: atLeast(0) },
  { key: 'messageRate', flag: 'message-rate', kind: 'number', default: 0, describe: 'Messages per second one socket may send on average; over it frames are refused with an error frame, and a socket that keeps on is closed with 1008 (0 = no limit)', check: range(0, 1_000_000) },
  { key: 'messageBurst', flag: 'message-burst', kind: 'integer', default: 0, describe: 'Messages a socket may send at once above --message-rate (0 = twice the rate)', check: atLeast(0) },
  { key: 'maxJsonDepth', flag: 'max-json-depth', kind: 'integer', default: 32, describe: 'Deepest nesting of arrays and objects accepted in a frame; deeper gets an error frame', check: range(1, 1000) },
  { key: 'maxBackpressure', flag: 'max-backpressure', kind: 'integer', default: 1024 * 1024, describe: 'Bytes queued for one slow socket before --slow-consumer applies', check: range(1024, 1024 * 1024 * 1024) },
  { key: 'ipcQueueLimit', flag: 'ipc-queue-limit', kind: 'integer', default: 16 * 1024 * 1024, describe: 'Bytes a worker, or the primary towards one worker, may have queued between processes (and, with --redis, a node towards Redis); past it the sockets sending the most across get an error frame instead of delivery', check: range(64 * 1024, 1024 * 1024 * 1024) },
  { key: 'slowConsumer', flag: 'slow-consumer', kind: 'string', default: 'close', describe: 'What happens to a socket past --max-backpressure: close (code 1013) or drop (it misses messages until it catches up; counted in /health)', check: (v) => (v === 'close' || v === 'drop' ? undefined : 'must be close or drop') },
  { key: 'allowedOrigins', flag: 'allowed-origins', kind: 'string', default: '*', describe: 'Comma-separated Origin values allowed to open WebSockets, * for any; others get 403 (clients that send no Origin are allowed)' },
  { key: 'trustProxy', flag: 'trust-proxy', kind: 'string', default: '', describe: 'Comma-separated addresses or CIDRs of reverse proxies: for their connections the client address is the right-most untrusted hop of X-Forwarded-For (or X-Real-IP), used by --max-connections-per-ip, the logs and hooks' },
  { key: 'tlsCert', flag: 'tls-cert', kind: 'string', default: undefined, describe: 'PEM certificate file: serve wss:// and https:// (needs --tls-key)' },
  { key: 'tlsKey', flag: 'tls-key', kind: 'string', default: undefined, describe: 'PEM private key file for --tls-cert' },
  { key: 'tlsPassphrase', flag: 'tls-passphrase', kind: 'string', default: undefined, describe: 'Passphrase of an encrypted --tls-key' },
  { key: 'dashboard', flag: 'dashboard', kind: 'boolean', default: false, describe: 'Serve a live dashboard at GET /conveyor/dashboard (with --token, open it with ?token= of the server token or --metrics-token)' },
  { key: 'demo', flag: 'demo', kind: 'boolean', default: false, describe: 'Serve the demo chat page on GET /' },
  { key: 'pusherApp', flag: 'pusher-app', kind: 'list', default: undefined, describe: 'A Pusher app as ID:KEY:SECRET; repeat for several. Serves the Pusher protocol at /app/KEY and its HTTP API at /apps/ID/' },
  { key: 'pusherClientEvents', flag: 'pusher-client-events', kind: 'boolean', default: false, describe: 'Allow client events (client-*) on private and presence channels of the apps given by --pusher-app' },
  { key: 'pusherApps', flag: 'pusher-apps', kind: 'json', default: [], describe: 'Pusher apps with their settings, as a JSON array (in a config file: the array itself); see docs/pusher.md' },
  { key: 'history', flag: 'history', kind: 'integer', default: 0, describe: 'Frames kept per channel, so that a client that reconnects (channel-connect with since) misses nothing; channel frames then carry seq (0 = off)', check: range(0, 100_000) },
  { key: 'historyTtl', flag: 'history-ttl', kind: 'number', default: 300, describe: 'Seconds a kept frame lives (with --history)', check: range(1, 7 * 24 * 3600) },
  { key: 'historyMaxBytes', flag: 'history-max-bytes', kind: 'integer', default: 256 * 1024 * 1024, describe: 'Bytes of kept frames across all channels (with --history, on one machine); past it the least recently written channels lose theirs first', check: range(1024, 64 * 1024 * 1024 * 1024) },
  { key: 'redis', flag: 'redis', kind: 'string', default: undefined, describe: 'Run as one node of several: redis:// or rediss:// URL (with password), or comma-separated seed URLs of a Redis Cluster. Nodes with the same --redis and --redis-prefix are one server', check: (v) => redisUrlProblem(v) },
  { key: 'redisPrefix', flag: 'redis-prefix', kind: 'string', default: 'conveyor', describe: 'Prefix of Conveyor\'s Redis keys and channels, so that several deployments can share one Redis', check: (v) => (/^[A-Za-z0-9_.-]{1,64}$/.test(v) ? undefined : 'must be 1 to 64 letters, digits, dots, dashes or underscores') },
  { key: 'logFile', flag: 'log-file', kind: 'string', default: undefined, describe: 'Write the log lines of the primary and every worker to this file instead of stdout; SIGUSR2 reopens it (for logrotate)' },
  { key: 'logRotateSize', flag: 'log-rotate-size', kind: 'string', default: '', describe: 'With --log-file: start a new numbered file past this size (such as 10m, 500k, 1g; empty = not by size)', check: (v) => (v === '' || /^\d+[kmg]?$/.test(v) ? undefined : 'must be a size such as 10m, 500k or 1g') },
  { key: 'logRotateDaily', flag: 'log-rotate-daily', kind: 'boolean', default: false, describe: 'With --log-file: start a new numbered file every day' },
  { key: 'logRotateKeep', flag: 'log-rotate-keep', kind: 'integer', default: 7, describe: 'With rotation: old log files kept beside the current one', check: range(1, 10_000) },
  { key: 'logLevel', flag: 'log-level', kind: 'string', default: 'info', describe: `Log level: ${LOG_LEVELS.join(', ')}`, check: (v) => (LOG_LEVELS.includes(v) ? undefined : `must be one of ${LOG_LEVELS.join(', ')}`) },
];

const byFlag = new Map<string, AnyOptionSpec>(OPTIONS.map((o) => [o.flag, o]));
const byKey = new Map<string, AnyOptionSpec>(OPTIONS.map((o) => [o.key, o]));

export function envName(spec: AnyOptionSpec): string {
  return `CONVEYOR_${spec.flag.replace(/-/g, '_').toUpperCase()}`;
}

function coerce(spec: AnyOptionSpec, raw: unknown, source: string): unknown {
  const where = `${source} "${spec.flag}"`;
  switch (spec.kind) {
    case 'boolean':
      if (typeof raw === 'boolean') return raw;
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0' || raw === '') return false;
      throw new ConfigError(`${where} must be true or false, got ${JSON.stringify(raw)}`);
    case 'integer':
    case 'number': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      if (!Number.isFinite(n)) throw new ConfigError(`${where} must be a number, got ${JSON.stringify(raw)}`);
      if (spec.kind === 'integer' && !Number.isInteger(n)) throw new ConfigError(`${where} must be a whole number, got ${JSON.stringify(raw)}`);
      return n;
    }
    case 'string':
      if (typeof raw === 'string') return raw;
      if (typeof raw === 'number') return String(raw);
      throw new ConfigError(`${where} must be a string, got ${JSON.stringify(raw)}`);
    case 'list': {
      const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : [raw];
      if (!items.every((item) => typeof item === 'string' || typeof item === 'number')) throw new ConfigError(`${where} must be a list of strings, got ${JSON.stringify(raw)}`);
      return items.map((item) => String(item).trim()).filter((item) => item !== '');
    }
    case 'json':
      if (typeof raw !== 'string') return raw;
      try {
        return JSON.parse(raw) as unknown;
      } catch (error) {
        throw new ConfigError(`${where} must be JSON: ${(error as Error).message}`);
      }
  }
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`config file ${path} cannot be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${path} must hold a JSON object of options`);
  }
  return parsed as Record<string, unknown>;
}

export interface ConfigSources {
  /** Flags the user typed, keyed by flag or camelCase name; undefined values are ignored. */
  flags?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  /** Path of a JSON config file. */
  configFile?: string | undefined;
}

/**
 * Resolves the configuration: defaults < config file < CONVEYOR_* environment < flags.
 * Throws ConfigError naming the option and the reason on the first invalid value.
 */
export function resolveConfig(sources: ConfigSources = {}): ServerConfig {
  const values: Record<string, unknown> = {};
  for (const spec of OPTIONS) values[spec.key] = spec.default;

  const env = sources.env ?? {};
  const configFile = sources.configFile ?? env['CONVEYOR_CONFIG'];
  if (configFile) {
    for (const [name, raw] of Object.entries(readConfigFile(configFile))) {
      const spec = byFlag.get(name) ?? byKey.get(name);
      if (!spec) throw new ConfigError(`config file ${configFile}: unknown option "${name}" (see conveyor start --help)`);
      values[spec.key] = coerce(spec, raw, `config file option`);
    }
  }
  for (const spec of OPTIONS) {
    const raw = env[envName(spec)];
    if (raw !== undefined) values[spec.key] = coerce(spec, raw, `environment variable ${envName(spec)} for`);
  }
  for (const [name, raw] of Object.entries(sources.flags ?? {})) {
    if (raw === undefined) continue;
    const spec = byFlag.get(name) ?? byKey.get(name);
    if (!spec) continue;
    values[spec.key] = coerce(spec, raw, 'option');
  }
  for (const spec of OPTIONS) {
    const value = values[spec.key];
    if (value === undefined) continue;
    const why = (spec.check as ((v: unknown) => string | undefined) | undefined)?.(value);
    // A URL may carry a password: it is not echoed.
    const shown = spec.key === 'redis' ? '' : `, got ${JSON.stringify(value)}`;
    if (why) throw new ConfigError(`option --${spec.flag} ${why}${shown}`);
  }
  const config = values as unknown as ServerConfig;
  if (config.token === '') config.token = undefined;
  if (config.tlsPassphrase === '') config.tlsPassphrase = undefined;
  if (config.metricsToken === '') config.metricsToken = undefined;
  if (config.logFile === '') config.logFile = undefined;
  if (config.redis === '') config.redis = undefined;
  if (config.logFile === undefined && (config.logRotateSize !== '' || config.logRotateDaily)) {
    throw new ConfigError('options --log-rotate-size and --log-rotate-daily rotate --log-file: give --log-file too');
  }
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    throw new ConfigError('options --tls-cert and --tls-key go together: give both to serve TLS, or neither');
  }
  for (const [flag, file] of [['tls-cert', config.tlsCert], ['tls-key', config.tlsKey]] as const) {
    if (file !== undefined && !existsSync(file)) throw new ConfigError(`option --${flag}: no file at ${file}`);
  }
  addressResolver(config.trustProxy);
  config.pusherApps = resolvePusherApps(config.pusherApp ?? [], config.pusherClientEvents, values['pusherApps']);
  if (config.idleTimeout % 4 !== 0 && config.idleTimeout !== 0) {
    // uWS checks idle timeouts on a 4-second tick; round up so the value is never shorter than asked.
    config.idleTimeout = Math.ceil(config.idleTimeout / 4) * 4;
  }
  return config;
}

/** Number of event workers to fork: `--workers 0` means one per CPU. */
export function effectiveWorkers(config: ServerConfig): number {
  return config.workers === 0 ? availableParallelism() : config.workers;
}

/** The config as it may be logged: secrets replaced. */
export function redactConfig(config: ServerConfig): Record<string, unknown> {
  const shown: Record<string, unknown> = {
    ...config,
    pusherApp: config.pusherApp?.map((app) => app.replace(/:[^:]*$/, ':[redacted]')),
    pusherApps: config.pusherApps.map((app) => ({ ...app, secret: '[redacted]' })),
    redis: config.redis === undefined ? undefined : redactRedisUrls(config.redis),
  };
  // A secret that is set is said to be; one that is not is left out (the logger's own redaction
  // would print "[redacted]" for a key present with no value, claiming a secret that is not there).
  for (const secret of ['token', 'tlsPassphrase', 'metricsToken'] as const) {
    if (config[secret] === undefined || config[secret] === '') delete shown[secret];
    else shown[secret] = '[redacted]';
  }
  return shown;
}

/** The seed URLs of --redis: one for a single Redis, several for a Redis Cluster. */
export function redisUrls(spec: string): string[] {
  return spec.split(',').map((url) => url.trim()).filter((url) => url !== '');
}

function redisUrlProblem(spec: string | undefined): string | undefined {
  if (spec === undefined || spec === '') return undefined;
  for (const url of redisUrls(spec)) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return `must be a URL such as redis://:password@host:6379 (several, comma-separated, for a Redis Cluster)`;
    }
    if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') return `must use redis:// or rediss://`;
    if (parsed.hostname === '') return 'must name a host';
  }
  return undefined;
}

/** --redis as it may be logged: passwords replaced. */
export function redactRedisUrls(spec: string): string {
  return redisUrls(spec)
    .map((url) => {
      try {
        const parsed = new URL(url);
        if (parsed.password !== '') parsed.password = 'redacted';
        return parsed.toString();
      } catch {
        return '[invalid]';
      }
    })
    .join(',');
}
