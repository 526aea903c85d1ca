import { REPLAY_MAX_PART_BYTES } from '../history/sequenced-frame.js';
import type { ServerConfig } from '../config.js';
import { HttpErrors } from '../errors.js';
import { channelNameProblem } from '../protocol/native/channel-name.js';
import { envelope } from '../protocol/native/envelope.js';
import type { Hub } from '../protocol/native/hub.js';
import type { Readiness } from '../ipc/messages.js';
import type { Registry } from '../registry/registry.js';
import { secretsEqual } from '../tokens.js';
import { jsonReply, type HttpHandler, type HttpReply, type HttpRequestInfo, type HttpRoute } from '../transport/http.js';
import { dashboardRoutes } from './dashboard-routes.js';
import { demoRoutes } from './demo-routes.js';
import { METRICS_CONTENT_TYPE, renderMetrics } from './metrics.js';
import { channelTopic } from '../topics.js';

export interface HttpApiDeps {
  config: ServerConfig;
  hub: Hub;
  registry: Registry;
}

function parseObject(body: Buffer): Record<string, unknown> | undefined {
  if (body.length === 0) return {};
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** True when no server token is set, or the request carries one of `accepted` (?token= or Bearer). */
function carries(config: ServerConfig, request: HttpRequestInfo, accepted: (string | undefined)[]): boolean {
  if (config.token === undefined) return true;
  const header = request.headers['authorization'];
  const given = request.query.get('token') ?? (header?.startsWith('Bearer ') ? header.slice(7) : null);
  // Every candidate is compared, so the time taken does not tell which one matched.
  return given !== null && accepted.reduce((match, secret) => (secret !== undefined && secretsEqual(given, secret)) || match, false);
}

function guardedBy(config: ServerConfig, accepted: (string | undefined)[], handler: HttpHandler): HttpHandler {
  return (request) => (carries(config, request, accepted) ? handler(request) : jsonReply(401, { error: HttpErrors.unauthorized }));
}

/** The native protocol's HTTP endpoints of PROTOCOL.md, independent of the transport. */
export function nativeRoutes(deps: HttpApiDeps): HttpRoute[] {
  const { config, hub, registry } = deps;
  const guarded = (handler: HttpHandler): HttpHandler => guardedBy(config, [config.token], handler);

  const mintToken: HttpHandler = async (request): Promise<HttpReply> => {
    // A temporary token stands in for the server token: without one it would admit nothing.
    if (config.token === undefined) return jsonReply(400, { error: HttpErrors.noServerToken });
    const body = parseObject(request.body);
    if (!body) return jsonReply(400, { error: HttpErrors.invalidJson });
    const channel = body['channel'];
    if (channel !== undefined && channel !== null && typeof channel !== 'string') {
      return jsonReply(400, { error: 'Field "channel" must be a string.' });
    }
    const problem = typeof channel === 'string' ? channelNameProblem(channel) : undefined;
    if (problem) return jsonReply(400, { error: problem });
    const minted = await registry.mintToken(...(typeof channel === 'string' && channel !== '' ? [channel] : []));
    if ('retryAfter' in minted) {
      return { ...jsonReply(503, { error: HttpErrors.tooManyTokens(config.tempTokenMax) }), headers: { 'retry-after': String(minted.retryAfter) } };
    }
    return jsonReply(200, { auth: minted.token });
  };

  const sendMessage: HttpHandler = async (request): Promise<HttpReply> => {
    const body = parseObject(request.body);
    if (!body) return jsonReply(400, { error: HttpErrors.invalidJson });
    const message = body['message'];
    if (typeof message !== 'string' || message === '') return jsonReply(400, { error: HttpErrors.invalidMessage });
    const channel = body['channel'];
    if (config.history > 0 && typeof channel === 'string' && channel !== '') {
      // Kept even with no member: a client that is reconnecting gets it.
      const problem = channelNameProblem(channel);
      if (problem) return jsonReply(400, { error: problem });
      const ackId = hub.newAckId();
      const seq = await registry.historyPublish(channel, envelope('broadcast-action', message, undefined, ackId), ackId);
      return jsonReply(200, { success: 'Message sent successfully!', seq });
    }
    if (typeof channel !== 'string' || !(await registry.hasMembers(channel))) {
      return jsonReply(404, { error: HttpErrors.channelNotFound });
    }
    const ackId = hub.newAckId();
    if (!hub.publish(channelTopic(channel), envelope('broadcast-action', message, undefined, ackId), ackId ? { ackId } : {})) {
      return { ...jsonReply(503, { error: HttpErrors.busy }), headers: { 'retry-after': '1' } };
    }
    return jsonReply(200, { success: 'Message sent successfully!' });
  };

  /** The backlog of a channel, by the rules of channel-connect with `since`. */
  const history: HttpHandler = async (request): Promise<HttpReply> => {
    const channel = request.query.get('channel') ?? '';
    const problem = channel === '' ? 'Query parameter "channel" is required.' : channelNameProblem(channel);
    if (problem) return jsonReply(400, { error: problem });
    const count = (name: string): number | undefined | 'invalid' => {
      const raw = request.query.get(name);
      if (raw === null || raw === '') return undefined;
      return /^\d{1,15}$/.test(raw) ? Number(raw) : 'invalid';
    };
    const since = count('since');
    const limit = count('limit');
    if (since === 'invalid' || limit === 'invalid') return jsonReply(400, { error: 'Query parameters "since" and "limit" must be whole numbers, 0 or more.' });
    const epoch = request.query.get('epoch');
    const replay = await registry.historyReplay({ channel, since: since ?? 0, ...(epoch ? { epoch } : {}), ...(limit !== undefined ? { limit } : {}), maxBytes: REPLAY_MAX_PART_BYTES });
    // A deep backlog is answered a part at a time: `next` says where the rest starts, and until then the caller has not recovered.
    const more = replay.next !== undefined ? { next: replay.next } : {};
    return jsonReply(200, { channel, epoch: replay.epoch, seq: replay.seq, recovered: replay.recovered && replay.next === undefined, ...more, frames: replay.frames.map((frame) => JSON.parse(frame) as unknown) });
  };

  return [
    { method: 'POST', path: '/conveyor/auth', handler: guarded(mintToken) },
    { method: 'POST', path: '/conveyor/message', handler: guarded(sendMessage) },
    ...(config.history > 0 ? [{ method: 'GET' as const, path: '/conveyor/history', handler: guarded(history) }] : []),
  ];
}

export interface ServerRoutesDeps {
  config: ServerConfig;
  registry: Registry;
  /** Extra health fields of this worker. */
  health(): Record<string, unknown>;
  /** Whether the server takes new work, as the primary last said. */
  readiness(): Readiness;
}

/** What operators read (/health, /metrics) and the demo pages: the worker's own, whatever the protocols. */
export function serverRoutes(deps: ServerRoutesDeps): HttpRoute[] {
  const { config, registry } = deps;
  /** What operators' probes and scrapers read: the server token or --metrics-token opens it. */
  const monitored = (handler: HttpHandler): HttpHandler => guardedBy(config, [config.token, config.metricsToken], handler);

  const health: HttpHandler = async (): Promise<HttpReply> => {
    const stats = await registry.stats();
    return jsonReply(200, { status: 'ok', ...stats, ...deps.health() });
  };

  const metrics: HttpHandler = async (): Promise<HttpReply> => ({
    status: 200,
    body: await renderMetrics(await registry.stats()),
    contentType: METRICS_CONTENT_TYPE,
  });

  // Readiness tells nothing a load balancer's probe may not know: it needs no token.
  const ready: HttpHandler = () => {
    const state = deps.readiness();
    return jsonReply(state === 'ready' ? 200 : 503, { status: state });
  };

  return [
    // Browsers ask for it on every page: an empty answer instead of a 404 in their console.
    { method: 'GET', path: '/favicon.ico', handler: () => ({ status: 204, body: '' }), listed: false },
    { method: 'GET', path: '/ready', handler: ready },
    { method: 'GET', path: '/health', handler: monitored(health) },
    { method: 'GET', path: '/metrics', handler: monitored(metrics) },
    ...(config.dashboard ? dashboardRoutes(registry, monitored) : []),
    ...(config.demo ? demoRoutes(config.pusherApps) : []),
  ];
}

/** The catch-all 404, which names every endpoint this server mounts (with its flags and apps). */
export function notFoundFor(routes: readonly HttpRoute[]): HttpHandler {
  const endpoints = [...new Set(routes.filter((route) => route.listed !== false).map((route) => `${route.method} ${route.path}${route.prefix ? '…' : ''}`))];
  const error = HttpErrors.notFound(endpoints);
  return (request) => jsonReply(404, { error, path: request.path.slice(0, 200) });
}
