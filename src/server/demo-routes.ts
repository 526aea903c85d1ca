import { readFileSync } from 'node:fs';
import type { HttpReply, HttpRoute } from '../transport/http.js';
import { DEMO_PAGE } from './demo-page.js';

const BUNDLE_DIR = new URL('../../client/', import.meta.url);

/** A built file of the client bundle, read once: it does not change while the server runs. */
function builtFile(name: string, contentType: string): () => HttpReply {
  let body: Buffer | undefined;
  try {
    body = readFileSync(new URL(name, BUNDLE_DIR));
  } catch {
    body = undefined;
  }
  return () =>
    body
      ? { status: 200, body, contentType, headers: { 'cache-control': 'no-cache' } }
      : { status: 404, body: JSON.stringify({ error: 'Client bundle not built: run npm run build.' }), contentType: 'application/json' };
}

/** The demo page and the client bundle it loads, served only with --demo. */
export function demoRoutes(): HttpRoute[] {
  return [
    { method: 'GET', path: '/', handler: () => ({ status: 200, body: DEMO_PAGE, contentType: 'text/html; charset=utf-8' }) },
    { method: 'GET', path: '/client/conveyor-client.js', handler: builtFile('conveyor-client.js', 'text/javascript; charset=utf-8') },
    { method: 'GET', path: '/client/conveyor-client.js.map', handler: builtFile('conveyor-client.js.map', 'application/json') },
  ];
}
