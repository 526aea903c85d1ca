import { readFileSync } from 'node:fs';
import type { HttpRoute } from '../transport/http.js';
import { DEMO_PAGE } from './demo-page.js';

const BUNDLE = new URL('../../client/conveyor-client.js', import.meta.url);

/** The demo page and the client bundle it loads, served only with --demo. */
export function demoRoutes(): HttpRoute[] {
  // Read once at start: the bundle is built with the project and never changes while it runs.
  let bundle: Buffer | undefined;
  try {
    bundle = readFileSync(BUNDLE);
  } catch {
    bundle = undefined;
  }
  return [
    { method: 'GET', path: '/', handler: () => ({ status: 200, body: DEMO_PAGE, contentType: 'text/html; charset=utf-8' }) },
    {
      method: 'GET',
      path: '/client/conveyor-client.js',
      handler: () =>
        bundle
          ? { status: 200, body: bundle, contentType: 'text/javascript; charset=utf-8', headers: { 'cache-control': 'no-cache' } }
          : { status: 404, body: JSON.stringify({ error: 'Client bundle not built: run npm run build.' }), contentType: 'application/json' },
    },
  ];
}
