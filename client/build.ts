/**
 * Builds the web client into `client/dist/` (git-ignored), which the server
 * serves: `/` → index.html, `/<hub_sid>[/<slug>]` → room.html,
 * `/assets/<file>` → `client/dist/<file>`.
 *
 * - `src/main.ts` → `dist/app.js` (+ `app.js.map`, except with
 *   `NODE_ENV=production`; the server serves `*.map` only with
 *   `SERVE_SOURCE_MAPS=true`): esbuild, one IIFE bundle
 *   (loaded as a classic script after A-Frame and NAF, so it can register
 *   components before `<a-scene>` is parsed);
 * - the prebuilt A-Frame 1.8.0 and networked-aframe 0.14.3 bundles are
 *   copied as `dist/aframe.min.js` and `dist/networked-aframe.min.js`
 *   (reference/toolchain-notes.md §6: never bundle them from source);
 * - `public/*` (index.html, room.html, style.css) is copied as is.
 *
 * Run with `npx tsx client/build.ts` (`npm run build:client`), or import
 * `buildClient`.
 */
import { build } from 'esbuild';
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const clientDir = path.dirname(fileURLToPath(import.meta.url));
const nodeModulesDir = path.join(clientDir, '..', 'node_modules');

/** Where the built client goes. */
export const CLIENT_DIST_DIR = path.join(clientDir, 'dist');

/** Vendor bundles copied verbatim: path under the repo's node_modules → name in dist/. */
export const VENDOR_FILES: ReadonlyArray<{ from: string; to: string }> = [
  { from: 'aframe/dist/aframe-v1.8.0.min.js', to: 'aframe.min.js' },
  { from: 'networked-aframe/dist/networked-aframe.min.js', to: 'networked-aframe.min.js' },
];

function resolvePackageFile(packageRelative: string): string {
  return path.join(nodeModulesDir, ...packageRelative.split('/'));
}

/**
 * Builds the client into `client/dist/`.
 * @param options.minify minify app.js (default false: readable stack traces)
 * @param options.sourcemap write `app.js.map` (default: unless `NODE_ENV=production`)
 * @throws if esbuild reports an error or a vendor file is missing (run `npm install`)
 */
export async function buildClient(options: { minify?: boolean; sourcemap?: boolean } = {}): Promise<void> {
  await mkdir(CLIENT_DIST_DIR, { recursive: true });
  const bundle = build({
    entryPoints: [path.join(clientDir, 'src', 'main.ts')],
    outfile: path.join(CLIENT_DIST_DIR, 'app.js'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: ['es2022'],
    sourcemap: options.sourcemap ?? process.env.NODE_ENV !== 'production',
    minify: options.minify ?? false,
    logLevel: 'warning',
    legalComments: 'none',
  });
  const vendor = VENDOR_FILES.map(({ from, to }) => copyFile(resolvePackageFile(from), path.join(CLIENT_DIST_DIR, to)));
  const publicDir = path.join(clientDir, 'public');
  const statics = (await readdir(publicDir, { withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => copyFile(path.join(publicDir, entry.name), path.join(CLIENT_DIST_DIR, entry.name)));
  await Promise.all([bundle, ...vendor, ...statics]);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const started = Date.now();
  buildClient({ minify: process.argv.includes('--minify') }).then(
    () => console.log(`client built in ${Date.now() - started} ms → ${path.relative(process.cwd(), CLIENT_DIST_DIR) || '.'}`),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
