import { STATUS_CODES } from 'node:http';
import type { HttpRequest as UwsRequest, HttpResponse as UwsResponse } from 'uWebSockets.js';
import type { Logger } from 'pino';
import { ErrorCodes, PlexusError, type ErrorCode } from '../errors.ts';
import type { HttpHandler, HttpResponse } from './http-types.ts';

const decoder = new TextDecoder();

/** `200 OK`, `404 Not Found`: uWS's status line. */
export function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? 'Unknown'}`;
}

/** The transport's own JSON error answer, the HTTP API's shape `{error: {code, message}}`. */
export function errorResponse(status: number, code: ErrorCode, message: string): HttpResponse {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: { code, message } }) };
}

/**
 * Writes `r` to a uWS response, corked (uWS 20.30 wants every write outside
 * its request callback corked). For HEAD the body is measured, not sent.
 */
export function writeResponse(res: UwsResponse, r: HttpResponse, head = false): void {
  res.cork(() => {
    res.writeStatus(statusLine(r.status));
    for (const [k, v] of Object.entries(r.headers ?? {})) res.writeHeader(k, v);
    const body = r.body ?? '';
    if (head) {
      res.endWithoutBody(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
    } else {
      res.end(body);
    }
  });
}

/** Writes `r` from inside a uWS request or upgrade handler, where uWS has corked the response already. */
export function writeInHandler(res: UwsResponse, r: HttpResponse): void {
  res.writeStatus(statusLine(r.status));
  for (const [k, v] of Object.entries(r.headers ?? {})) res.writeHeader(k, v);
  res.end(r.body ?? '');
}

/**
 * The HTTP adapter: reads one uWS request (headers, query, and for
 * POST/PUT/PATCH the whole body, at most `maxBodyBytes`, else 413
 * `body_too_large`), hands it to `handler` and writes its answer, unless the
 * client went away meanwhile. A thrown PlexusError becomes its status and
 * `{error: {code, message}}`; anything else a logged 500 `internal_error`.
 */
export function serveHttp(res: UwsResponse, req: UwsRequest, handler: HttpHandler, maxBodyBytes: number, log: Logger): void {
  const method = req.getCaseSensitiveMethod().toUpperCase();
  const path = req.getUrl();
  const query = new URLSearchParams(req.getQuery() ?? '');
  const headers: Record<string, string> = Object.create(null);
  req.forEach((k, v) => {
    headers[k] = v;
  });
  const remoteAddress = decoder.decode(res.getRemoteAddressAsText());
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  const respond = (r: HttpResponse) => {
    if (!aborted) writeResponse(res, r, method === 'HEAD');
  };
  const run = (body: Buffer | null) => {
    let result: HttpResponse | Promise<HttpResponse>;
    try {
      result = handler({ method, path, query, headers, remoteAddress, body });
    } catch (err) {
      result = Promise.reject(err);
    }
    Promise.resolve(result).then(respond, (err: unknown) => {
      if (err instanceof PlexusError) {
        // An expected failure with its own code and status, e.g. 503 `unavailable` (the database did not answer).
        log.warn({ err: err.message, code: err.code, method, path }, 'http handler failed');
        respond(errorResponse(err.status, err.code, err.message));
        return;
      }
      log.error({ err, method, path }, 'http handler failed');
      respond(errorResponse(500, ErrorCodes.INTERNAL, 'The server failed to handle this request.'));
    });
  };
  if (method !== 'POST' && method !== 'PUT' && method !== 'PATCH') {
    run(null);
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  res.onData((chunk, isLast) => {
    if (tooLarge) return;
    size += chunk.byteLength;
    if (size > maxBodyBytes) {
      tooLarge = true;
      respond(errorResponse(413, ErrorCodes.HTTP_BODY_TOO_LARGE, `Request body is over ${maxBodyBytes} bytes.`));
      return;
    }
    chunks.push(Buffer.from(chunk.slice(0)));
    if (isLast) run(Buffer.concat(chunks));
  });
}
