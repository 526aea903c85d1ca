import type { ServerConfig } from '../config.js';
import { HttpErrors } from '../errors.js';
import { jsonReply, type HttpHandler, type HttpReply, type HttpRoute } from '../http/routes.js';
import { guardedBy } from '../http/token-guard.js';
import type { Readiness } from '../ipc/messages.js';
import type { Registry } from '../registry/registry.js';
import { dashboardRoutes } from '../pages/dashboard-routes.js';
import { demoRoutes } from '../pages/demo-routes.js';
import { METRICS_CONTENT_TYPE, renderMetrics } from './metrics.js';

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
  const monitored = (handler: HttpHandler): HttpHandler => guardedBy(config.token, [config.token, config.metricsToken], handler);

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
