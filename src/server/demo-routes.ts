import type { HttpRoute } from '../transport/http.js';

/** The demo page and the client bundle it loads, served only with --demo. */
export function demoRoutes(): HttpRoute[] {
  return [];
}
