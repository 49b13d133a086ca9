import fs from 'node:fs/promises';
import path from 'node:path';
import type { HttpResponse } from '../transport/http-types.ts';
import { jsonError } from './router.ts';
import { ErrorCodes } from '../errors.ts';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.glb': 'model/gltf-binary',
  '.gltf': 'model/gltf+json',
};

/**
 * Serves files from one directory (the built web client). Files are read on
 * request and cached by modification time. Paths that escape the directory
 * are refused, and so are source maps (`*.map`) unless `serveSourceMaps`.
 */
export class StaticFiles {
  private readonly cache = new Map<string, { mtimeMs: number; body: Buffer }>();

  /** @param options.serveSourceMaps serve `*.map` files (`SERVE_SOURCE_MAPS`); default false: they are 404 */
  constructor(
    private readonly root: string,
    private readonly options: { serveSourceMaps?: boolean } = {},
  ) {}

  /**
   * The response for `relativePath` under the root: 200 with the file, or a
   * JSON 404 (`http_not_found`) saying to build the client when the root is missing.
   * @param cacheControl the Cache-Control header to send
   */
  async serve(relativePath: string, cacheControl = 'no-cache'): Promise<HttpResponse> {
    const file = path.resolve(this.root, relativePath);
    if (!file.startsWith(this.root + path.sep)) return jsonError(404, ErrorCodes.HTTP_NOT_FOUND, 'No such file.');
    if (file.endsWith('.map') && !this.options.serveSourceMaps) return jsonError(404, ErrorCodes.HTTP_NOT_FOUND, 'Source maps are not served (set SERVE_SOURCE_MAPS=true to debug).');
    let stat;
    try {
      stat = await fs.stat(file);
    } catch {
      const rootExists = await fs.stat(this.root).then(() => true, () => false);
      return jsonError(404, ErrorCodes.HTTP_NOT_FOUND, rootExists ? `No file ${relativePath}.` : `The web client is not built (${this.root} is missing); run \`npm run build:client\`.`);
    }
    if (!stat.isFile()) return jsonError(404, ErrorCodes.HTTP_NOT_FOUND, 'No such file.');
    let entry = this.cache.get(file);
    if (!entry || entry.mtimeMs !== stat.mtimeMs) {
      entry = { mtimeMs: stat.mtimeMs, body: await fs.readFile(file) };
      this.cache.set(file, entry);
    }
    return {
      status: 200,
      headers: {
        'content-type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream',
        'cache-control': cacheControl,
        'last-modified': new Date(stat.mtimeMs).toUTCString(),
      },
      body: entry.body,
    };
  }
}
