import { createRequire } from 'node:module';
import uWS from 'uWebSockets.js';
import { ErrorCodes, PlexusError } from '../errors.ts';

/**
 * Verifies that uWebSockets.js loaded its native addon. The package silently
 * falls back to a slow pure-JS implementation when no binary matches the Node
 * ABI (binaries exist for Node 16, 18 and 20 only); shared/reference/toolchain-notes.md §1.
 * @throws PlexusError `uws_fallback` with what to do (use Node 20, unset UWS_USE_FALLBACK)
 */
export function assertNativeUws(): void {
  const require = createRequire(import.meta.url);
  const nativeLoaded = Object.keys(require.cache).some((k) => /uws_.*\.node$/.test(k));
  const api = uWS as unknown as Record<string, unknown>;
  const hasNativeOnlyApi = typeof api.SSLApp === 'function' && typeof api.getParts === 'function';
  if (process.env.UWS_USE_FALLBACK || !nativeLoaded || !hasNativeOnlyApi) {
    throw new PlexusError(
      ErrorCodes.UWS_FALLBACK,
      `uWebSockets.js did not load its native binary (Node ${process.versions.node}, ABI ${process.versions.modules}). ` +
        'Plexus needs Node 20 (binaries exist for Node 16, 18 and 20 only) and UWS_USE_FALLBACK unset. Install Node 20 and run `npm install` again.',
      500,
    );
  }
}
