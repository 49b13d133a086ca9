import { ErrorCodes } from '../errors.ts';
import type { KeyedLimiter } from '../realtime/rate-limits.ts';
import type { HttpRequest, HttpResponse } from '../transport/http-types.ts';
import { jsonError } from './router.ts';
import { isJsonContentType } from './web-security.ts';

/** 415 for a body that is not declared JSON (a cross-site form or text/plain post is never a "simple" JSON request), else null. */
export function requireJson(req: HttpRequest, example: string): HttpResponse | null {
  if (isJsonContentType(req.headers['content-type'])) return null;
  const given = req.headers['content-type'] ? `content-type ${JSON.stringify(req.headers['content-type'].slice(0, 80))}` : 'no content-type';
  return jsonError(415, ErrorCodes.HTTP_UNSUPPORTED_MEDIA_TYPE, `This endpoint takes JSON, and the request has ${given}; send ${example} with content-type: application/json.`);
}

/**
 * 429 `rate_limited` with `retry-after` (seconds) when `limiter` has no
 * room for `key`, else null (also without a limiter).
 * @param what the start of the message, e.g. "Too many rooms created from your address"
 */
export async function rateLimited(limiter: KeyedLimiter | null, key: string, what: string): Promise<HttpResponse | null> {
  const wait = limiter ? await limiter.take(key) : 0;
  if (wait <= 0) return null;
  const res = jsonError(429, ErrorCodes.RATE_LIMITED, `${what}; try again in ${wait} s.`);
  return { ...res, headers: { ...res.headers, 'retry-after': String(wait) } };
}

/**
 * The request body parsed as JSON, or the 400 `bad_json` response whose
 * message is `message`.
 */
export function jsonBody(req: HttpRequest, message: string): { body: unknown } | { response: HttpResponse } {
  try {
    return { body: JSON.parse(req.body?.toString('utf8') || '') };
  } catch {
    return { response: jsonError(400, ErrorCodes.HTTP_BAD_JSON, message) };
  }
}
