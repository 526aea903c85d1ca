/**
 * HTTP routes as the protocols and the worker declare them, free of any transport: the
 * transport serves them (src/transport/http.ts), the protocols only describe them.
 */

/** An HTTP request as the handlers see it: copied out of uWS before anything awaits. */
export interface HttpRequestInfo {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  body: Buffer;
  remoteAddress: string;
}

export interface HttpReply {
  status: number;
  body: string | Buffer;
  contentType?: string;
  headers?: Record<string, string>;
}

export type HttpHandler = (request: HttpRequestInfo) => HttpReply | Promise<HttpReply>;

/** One HTTP route: a method or `*` for any, and the exact path (or, with `prefix`, its start). */
export interface HttpRoute {
  method: string;
  path: string;
  prefix?: boolean;
  handler: HttpHandler;
  /** False for routes the 404 does not name (favicon.ico). */
  listed?: boolean;
}

export function jsonReply(status: number, body: unknown): HttpReply {
  return { status, body: JSON.stringify(body), contentType: 'application/json' };
}
