import { HttpErrors, ServiceUnavailable } from '../errors.js';
import type { AddressResolver } from './client-address.js';
import type { UWS } from './uws.js';
import { jsonReply, type HttpHandler, type HttpReply, type HttpRequestInfo } from '../http/routes.js';

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  204: 'No Content',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Payload Too Large',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
};

export function statusLine(status: number): string {
  return `${status} ${STATUS_TEXT[status] ?? 'Status'}`;
}


/**
 * Copies what a handler needs out of a uWS request, which is valid only until the
 * handler returns or first awaits.
 */
export function copyRequest(res: UWS.HttpResponse, req: UWS.HttpRequest, resolveAddress: AddressResolver): Omit<HttpRequestInfo, 'body'> {
  const headers: Record<string, string> = {};
  req.forEach((key, value) => {
    headers[key] = value;
  });
  return {
    method: req.getMethod().toUpperCase(),
    path: req.getUrl(),
    query: new URLSearchParams(req.getQuery() ?? ''),
    headers,
    remoteAddress: resolveAddress(Buffer.from(res.getRemoteAddressAsText()).toString(), headers),
  };
}

/** How long a refused body is read and discarded before the connection closes anyway. */
const LINGER_MS = 2000;

/**
 * Serves one HTTP request with `handler`: reads the body up to `maxBody` bytes (413 past
 * it), survives the client aborting, and answers inside cork as uWS requires.
 *
 * uWS keeps one response pending per connection and closes the connection when it parses
 * a second request before the first was answered. So the handler starts only on the next
 * turn (setImmediate runs after uWS parsed what it had read, microtasks run before), and
 * only if the connection is still there: a pipelined request closes it before anything
 * was carried out. Meanwhile the response is paused, so uWS reads no more requests until
 * this one is answered, and pipelined requests sent apart are answered in order.
 */
export function serveHttp(res: UWS.HttpResponse, req: UWS.HttpRequest, maxBody: number, handler: HttpHandler, onError: (error: unknown) => void, resolveAddress: AddressResolver): void {
  const info = copyRequest(res, req, resolveAddress);
  let aborted = false;
  let paused = false;
  let lingering: NodeJS.Timeout | undefined;
  res.onAborted(() => {
    aborted = true;
    clearTimeout(lingering);
  });
  const reply = (r: HttpReply, closeConnection = false): void => {
    if (aborted) return;
    res.cork(() => {
      if (paused) res.resume();
      res.writeStatus(statusLine(r.status));
      res.writeHeader('content-type', r.contentType ?? 'application/json');
      for (const [k, v] of Object.entries(r.headers ?? {})) res.writeHeader(k, v);
      if (info.method === 'HEAD') {
        // A HEAD answer states the length of the body a GET would get, and sends none.
        res.writeHeader('content-length', String(typeof r.body === 'string' ? Buffer.byteLength(r.body) : r.body.length));
        res.endWithoutBody();
      } else res.end(r.body, closeConnection);
    });
  };
  const run = (body: Buffer): void => {
    res.pause();
    paused = true;
    setImmediate(() => {
      if (aborted) return;
      Promise.resolve()
        .then(() => handler({ ...info, body }))
        .then(
          (r) => reply(r),
          (error: unknown) => {
            if (error instanceof ServiceUnavailable) return reply({ ...jsonReply(503, { error: error.message }), headers: { 'retry-after': '2' } });
            onError(error);
            reply(jsonReply(500, { error: 'Internal server error' }));
          },
        );
    });
  };
  if (info.method === 'GET' || info.method === 'HEAD') {
    run(Buffer.alloc(0));
    return;
  }
  // Closing while the client still sends resets the connection under it, and most clients
  // then report a network error, not the 413: what it still sends is read and discarded
  // first, for LINGER_MS at most (nginx's lingering close), and the answer closes it.
  const tooLarge = (): void => {
    clearTimeout(lingering);
    reply(jsonReply(413, { error: HttpErrors.bodyTooLarge(maxBody) }), true);
  };
  const chunks: Buffer[] = [];
  let size = 0;
  let refused = Number(info.headers['content-length'] ?? '0') > maxBody;
  if (refused) lingering = setTimeout(tooLarge, LINGER_MS);
  res.onData((chunk, isLast) => {
    if (refused) {
      if (isLast) tooLarge();
      return;
    }
    size += chunk.byteLength;
    if (size > maxBody) {
      refused = true;
      chunks.length = 0;
      if (isLast) tooLarge();
      else lingering = setTimeout(tooLarge, LINGER_MS);
      return;
    }
    // uWS reuses the chunk's memory after this callback returns: copy it.
    chunks.push(Buffer.from(chunk.slice(0)));
    if (isLast) run(Buffer.concat(chunks));
  });
}
