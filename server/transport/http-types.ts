/** An HTTP request as the transport hands it to handlers: everything read up front, body included. */
export interface HttpRequest {
  /** Upper-case method, e.g. `GET`, `HEAD`, `POST`. */
  method: string;
  /** URL path without the query string, e.g. `/api/v1/hubs`. */
  path: string;
  /** Parsed query string. */
  query: URLSearchParams;
  /** Request headers with lower-case names. */
  headers: Readonly<Record<string, string>>;
  /** Client IP address as text. */
  remoteAddress: string;
  /** Request body for POST/PUT/PATCH (empty buffer if none), else null. */
  body: Buffer | null;
}

/** An HTTP response to write. For HEAD the body is measured and not sent. */
export interface HttpResponse {
  status: number;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /**
   * Any site may frame this response (a room page opened with its
   * `embed_token`): the security headers then leave out `X-Frame-Options`
   * and allow every `frame-ancestors`. Not sent on the wire.
   */
  frameable?: boolean;
}

/** Handles one request; may be async. A thrown error becomes a 500 JSON error. */
export type HttpHandler = (req: HttpRequest) => HttpResponse | Promise<HttpResponse>;
