import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SignJWT, jwtVerify } from 'jose';

/** Audience claim of session tokens (Reticulum's `Ret.SessionToken` uses the same). */
export const SESSION_AUDIENCE = 'ret_session';
/** Session token lifetime, in seconds (one day, as Reticulum). */
export const SESSION_TTL_SECONDS = 24 * 60 * 60;

/**
 * Signs and verifies session tokens: HS256 JWTs `{session_id, aud: "ret_session", iat, exp}`.
 * A client that reconnects with a valid token keeps its `session_id`
 * (reference/reticulum.md §1.0, §3.4).
 */
export class SessionTokens {
  private readonly key: Uint8Array;

  /** @param secret at least 32 bytes of secret material */
  constructor(secret: string | Uint8Array) {
    this.key = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
  }

  /** Issues a token for `sessionId`. */
  async issue(sessionId: string): Promise<string> {
    return new SignJWT({ session_id: sessionId })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setAudience(SESSION_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${SESSION_TTL_SECONDS}s`)
      .sign(this.key);
  }

  /** Returns the token's session_id, or null when the token is invalid, expired or not a session token. Never throws. */
  async verify(token: string): Promise<string | null> {
    try {
      const { payload } = await jwtVerify(token, this.key, { audience: SESSION_AUDIENCE, algorithms: ['HS256'] });
      return typeof payload.session_id === 'string' ? payload.session_id : null;
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
