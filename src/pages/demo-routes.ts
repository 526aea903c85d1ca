import { readFileSync } from 'node:fs';
import type { PusherApp } from '../apps/apps.js';
import { hmacHex } from '../tokens.js';
import { jsonReply, type HttpReply, type HttpRoute } from '../http/routes.js';
import { DEMO_PAGE } from './demo-page.js';
import { PUSHER_DEMO_PAGE } from './pusher-demo-page.js';

const BUNDLE_DIR = new URL('../../client/', import.meta.url);

/** A built file of the browser bundles, read once: it does not change while the server runs. */
export function builtFile(name: string, contentType: string): () => HttpReply {
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

/**
 * The Pusher demo: its page, its bundle, and the auth endpoint a Laravel app would have
 * (/broadcasting/auth). That endpoint signs any presence subscription it is asked for, which
 * is why all of this exists only with --demo.
 */
function pusherDemoRoutes(app: PusherApp): HttpRoute[] {
  const page = PUSHER_DEMO_PAGE.replace('APP_KEY', app.key);
  return [
    { method: 'GET', path: '/pusher', handler: () => ({ status: 200, body: page, contentType: 'text/html; charset=utf-8' }) },
    { method: 'GET', path: '/demo/pusher-demo.js', handler: builtFile('pusher-demo.js', 'text/javascript; charset=utf-8') },
    {
      method: 'POST',
      path: '/demo/pusher/auth',
      handler: (request) => {
        const form = new URLSearchParams(request.body.toString('utf8'));
        const socketId = form.get('socket_id') ?? '';
        const channel = form.get('channel_name') ?? '';
        if (!/^\d+\.\d+$/.test(socketId) || channel === '') return jsonReply(400, { error: 'socket_id and channel_name are required' });
        if (!channel.startsWith('presence-')) return jsonReply(200, { auth: `${app.key}:${hmacHex(app.secret, `${socketId}:${channel}`)}` });
        // Echo hands pages each member's user_info only, so the id goes in there too.
        const id = (form.get('user_id') ?? socketId).slice(0, 64);
        const channelData = JSON.stringify({ user_id: id, user_info: { id, name: (form.get('name') ?? 'anonymous').slice(0, 64) } });
        return jsonReply(200, { auth: `${app.key}:${hmacHex(app.secret, `${socketId}:${channel}:${channelData}`)}`, channel_data: channelData });
      },
    },
  ];
}

/** The demo pages and the bundles they load, served only with --demo. */
export function demoRoutes(apps: readonly PusherApp[]): HttpRoute[] {
  return [
    { method: 'GET', path: '/', handler: () => ({ status: 200, body: DEMO_PAGE, contentType: 'text/html; charset=utf-8' }) },
    { method: 'GET', path: '/client/conveyor-client.js', handler: builtFile('conveyor-client.js', 'text/javascript; charset=utf-8') },
    { method: 'GET', path: '/client/conveyor-client.js.map', handler: builtFile('conveyor-client.js.map', 'application/json') },
    ...(apps[0] ? pusherDemoRoutes(apps[0]) : []),
  ];
}
