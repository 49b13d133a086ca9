/**
 * Session tokens: synchronous HS256 sign and verify (they are checked inside
 * uWS's upgrade handler), compatible with tokens issued before by jose.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SignJWT } from 'jose';
import jwt from 'jsonwebtoken';
import { SESSION_AUDIENCE, SessionTokens } from './session-token.ts';

const SECRET = 'a'.repeat(64);

test('a token gives back its session_id, synchronously', () => {
  const tokens = new SessionTokens(SECRET);
  const token = tokens.issue('session-1');
  assert.equal(typeof token, 'string');
  assert.equal(tokens.verify(token), 'session-1');
  const claims = jwt.decode(token) as Record<string, unknown>;
  assert.equal(claims.aud, SESSION_AUDIENCE);
  assert.equal((claims.exp as number) - (claims.iat as number), 24 * 60 * 60);
});

test('a token signed with another secret, for another audience, expired, unsigned or mangled is refused', () => {
  const tokens = new SessionTokens(SECRET);
  const key = Buffer.from(SECRET);
  assert.equal(tokens.verify(new SessionTokens('b'.repeat(64)).issue('s')), null);
  assert.equal(tokens.verify(jwt.sign({ session_id: 's' }, key, { audience: 'ret_account', expiresIn: 60 })), null);
  assert.equal(tokens.verify(jwt.sign({ session_id: 's', exp: Math.floor(Date.now() / 1000) - 10 }, key, { audience: SESSION_AUDIENCE })), null);
  assert.equal(tokens.verify(jwt.sign({ session_id: 's' }, null, { algorithm: 'none', audience: SESSION_AUDIENCE })), null);
  assert.equal(tokens.verify(jwt.sign({ session_id: 's' }, key, { algorithm: 'HS512', audience: SESSION_AUDIENCE })), null);
  assert.equal(tokens.verify(jwt.sign({ session_id: 42 }, key, { audience: SESSION_AUDIENCE })), null);
  const good = tokens.issue('s');
  assert.equal(tokens.verify(good.slice(0, -2) + (good.endsWith('AA') ? 'BB' : 'AA')), null);
  assert.equal(tokens.verify('not a token'), null);
  assert.equal(tokens.verify(''), null);
});

test('tokens issued by the earlier jose-based signer still verify (clients reconnecting across an upgrade)', async () => {
  const key = new TextEncoder().encode(SECRET);
  const old = await new SignJWT({ session_id: 'from-jose' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setAudience(SESSION_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(key);
  assert.equal(new SessionTokens(SECRET).verify(old), 'from-jose');
});
