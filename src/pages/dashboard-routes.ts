import type { Registry } from '../registry/registry.js';
import { jsonReply, type HttpHandler, type HttpRoute } from '../http/routes.js';
import { DASHBOARD_PAGE } from './dashboard-page.js';
import { builtFile } from './demo-routes.js';

/**
 * The live dashboard (--dashboard): the page and its numbers, guarded like /metrics by
 * `guard`, and the chart library's files, which hold nothing of the server's.
 */
export function dashboardRoutes(registry: Registry, guard: (handler: HttpHandler) => HttpHandler): HttpRoute[] {
  return [
    { method: 'GET', path: '/conveyor/dashboard', handler: guard(() => ({ status: 200, body: DASHBOARD_PAGE, contentType: 'text/html; charset=utf-8' })) },
    { method: 'GET', path: '/conveyor/dashboard/stats', handler: guard(async () => jsonReply(200, await registry.dashboard())) },
    { method: 'GET', path: '/conveyor/dashboard/uplot.js', handler: builtFile('uplot-bundle.js', 'text/javascript; charset=utf-8') },
    { method: 'GET', path: '/conveyor/dashboard/uplot.css', handler: builtFile('uPlot.min.css', 'text/css; charset=utf-8') },
  ];
}
