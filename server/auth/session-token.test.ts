/**
 * Session tokens (jose, HS256): round trip, and the tokens that must be
 * refused (another secret, audience or algorithm, expired, unsigned, mangled).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SignJWT, UnsecuredJWT, decodeJwt } from 'jose';
import { SESSION_AUDIENCE, SESSION_TTL_SECONDS, SessionTokens } from './session-token.ts';

const SECRET = 'a'.repeat(64);
const KEY = new TextEncoder().encode(SECRET);

test('a token gives back its session_id and lasts SESSION_TTL_SECONDS', async () => {
  const tokens = new SessionTokens(SECRET);
  const token = await tokens.issue('session-1');
  assert.equal(await tokens.verify(token), 'session-1');
  const claims = decodeJwt(token);
  assert.equal(claims.aud, SESSION_AUDIENCE);
  assert.equal(claims.exp! - claims.iat!, SESSION_TTL_SECONDS);
});

test('a token signed with another secret, for another audience, expired, unsigned, with another algorithm or mangled is refused', async () => {
  const tokens = new SessionTokens(SECRET);
  const sign = (claims: Record<string, unknown>, alg = 'HS256', aud = SESSION_AUDIENCE, exp: number | string = '1h') =>
    new SignJWT(claims).setProtectedHeader({ alg }).setAudience(aud).setIssuedAt().setExpirationTime(exp).sign(KEY);
  assert.equal(await tokens.verify(await new SessionTokens('b'.repeat(64)).issue('s')), null);
  assert.equal(await tokens.verify(await sign({ session_id: 's' }, 'HS256', 'ret_account')), null);
  assert.equal(await tokens.verify(await sign({ session_id: 's' }, 'HS256', SESSION_AUDIENCE, Math.floor(Date.now() / 1000) - 10)), null);
  assert.equal(await tokens.verify(await sign({ session_id: 's' }, 'HS512')), null);
  assert.equal(await tokens.verify(await sign({ session_id: 42 })), null);
  assert.equal(await tokens.verify(new UnsecuredJWT({ session_id: 's' }).setAudience(SESSION_AUDIENCE).setExpirationTime('1h').encode()), null);
  const good = await tokens.issue('s');
  assert.equal(await tokens.verify(good.slice(0, -2) + (good.endsWith('AA') ? 'BB' : 'AA')), null);
  assert.equal(await tokens.verify('not a token'), null);
  assert.equal(await tokens.verify(''), null);
});
