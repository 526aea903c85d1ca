import { HttpErrors } from '../errors.js';
import { secretsEqual } from '../tokens.js';
import { jsonReply, type HttpHandler, type HttpRequestInfo } from './routes.js';

/** True when no server token is set, or the request carries one of `accepted` (?token= or Bearer). */
function carries(serverToken: string | undefined, request: HttpRequestInfo, accepted: (string | undefined)[]): boolean {
  if (serverToken === undefined) return true;
  const header = request.headers['authorization'];
  const given = request.query.get('token') ?? (header?.startsWith('Bearer ') ? header.slice(7) : null);
  // Every candidate is compared, so the time taken does not tell which one matched.
  return given !== null && accepted.reduce((match, secret) => (secret !== undefined && secretsEqual(given, secret)) || match, false);
}

/** `handler`, behind the server token: without --token everything is open; with it, one of `accepted` must come. */
export function guardedBy(serverToken: string | undefined, accepted: (string | undefined)[], handler: HttpHandler): HttpHandler {
  return (request) => (carries(serverToken, request, accepted) ? handler(request) : jsonReply(401, { error: HttpErrors.unauthorized }));
}

