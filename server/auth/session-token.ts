import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import jwt from 'jsonwebtoken';

/** Audience claim of session tokens (Reticulum's `Ret.SessionToken` uses the same). */
export const SESSION_AUDIENCE = 'ret_session';
/** Session token lifetime, in seconds (one day, as Reticulum). */
export const SESSION_TTL_SECONDS = 24 * 60 * 60;

/**
 * Signs and verifies session tokens: HS256 JWTs `{session_id, aud: "ret_session", iat, exp}`.
 * A client that reconnects with a valid token keeps its `session_id`
 * (reference/reticulum.md §1.0, §3.4).
 *
 * Synchronous (jsonwebtoken), because the token is checked inside uWS's
 * upgrade handler (see SocketHandlers.authorize).
 */
export class SessionTokens {
  private readonly key: Buffer;

  /** @param secret at least 32 bytes of secret material */
  constructor(secret: string | Uint8Array) {
    this.key = Buffer.from(typeof secret === 'string' ? new TextEncoder().encode(secret) : secret);
  }

  /** Issues a token for `sessionId`, valid for SESSION_TTL_SECONDS. */
  issue(sessionId: string): string {
    return jwt.sign({ session_id: sessionId }, this.key, { algorithm: 'HS256', audience: SESSION_AUDIENCE, expiresIn: SESSION_TTL_SECONDS });
  }

  /** Returns the token's session_id, or null when the token is invalid, expired or not a session token. Never throws. */
  verify(token: string): string | null {
    try {
      const payload = jwt.verify(token, this.key, { audience: SESSION_AUDIENCE, algorithms: ['HS256'] });
      return typeof payload === 'object' && typeof payload.session_id === 'string' ? payload.session_id : null;
    } catch {
      return null;
    }
  }
}

/**
 * Returns the configured secret, or reads (creating on first start) a random
 * 32-byte secret in `dataDir/session-secret` with mode 0600.
 */
export function loadOrCreateSessionSecret(configured: string | null, dataDir: string): string {
  if (configured) return configured;
  const file = path.join(dataDir, 'session-secret');
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    const secret = randomBytes(32).toString('hex');
    fs.mkdirSync(dataDir, { recursive: true });
    fs.writeFileSync(file, secret + '\n', { mode: 0o600 });
    return secret;
  }
}
