import { createHash } from 'node:crypto';
import type { PusherApp } from '../../apps/apps.js';
import { hmacHex, secretsEqual } from '../../tokens.js';

/** Requests signed more than this long before or after the server's clock are refused. */
export const API_TIMESTAMP_WINDOW_S = 600;

/** Checks an `auth` of the form `KEY:hex(HMAC-SHA256(secret, data))`, in constant time. */
function authMatches(app: PusherApp, auth: unknown, data: string): boolean {
  if (typeof auth !== 'string') return false;
  const colon = auth.indexOf(':');
  if (colon < 0) return false;
  const keyOk = secretsEqual(auth.slice(0, colon), app.key);
  const signatureOk = secretsEqual(auth.slice(colon + 1), hmacHex(app.secret, data));
  return keyOk && signatureOk;
}

/** A private or presence subscription's signature: over `socket_id:channel[:channel_data]`. */
export function channelAuthValid(app: PusherApp, socketId: string, channel: string, auth: unknown, channelData?: string): boolean {
  return authMatches(app, auth, channelData === undefined ? `${socketId}:${channel}` : `${socketId}:${channel}:${channelData}`);
}

/** A `pusher:signin` signature: over `socket_id::user::user_data`. */
export function signinValid(app: PusherApp, socketId: string, userData: string, auth: unknown): boolean {
  return authMatches(app, auth, `${socketId}::user::${userData}`);
}

/**
 * Checks a signed HTTP API request (Pusher's auth_key, auth_timestamp, auth_version,
 * body_md5, auth_signature); returns what is wrong, or undefined when it is genuine.
 */
export function apiRequestProblem(app: PusherApp, method: string, path: string, query: URLSearchParams, body: Buffer, nowMs: number): string | undefined {
  const key = query.get('auth_key');
  const signature = query.get('auth_signature');
  const timestamp = Number(query.get('auth_timestamp'));
  if (key === null || signature === null || !query.has('auth_timestamp')) return 'Request must be signed: auth_key, auth_timestamp, auth_version and auth_signature are required';
  if (!secretsEqual(key, app.key)) return 'auth_key does not match the app';
  if (query.get('auth_version') !== '1.0') return 'auth_version must be 1.0';
  if (!Number.isFinite(timestamp) || Math.abs(nowMs / 1000 - timestamp) > API_TIMESTAMP_WINDOW_S) {
    return `auth_timestamp must be within ${API_TIMESTAMP_WINDOW_S} s of the server's clock (check the clock of the machine that signs)`;
  }
  if (body.length > 0) {
    const md5 = createHash('md5').update(body).digest('hex');
    if (query.get('body_md5') !== md5) return 'body_md5 does not match the body';
  }
  const params = [...query.entries()]
    .filter(([name]) => name !== 'auth_signature')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
  if (!secretsEqual(signature, hmacHex(app.secret, `${method}\n${path}\n${params}`))) return 'Invalid signature: sign the request with the app secret';
  return undefined;
}
