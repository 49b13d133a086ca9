import { SignJWT, jwtVerify } from 'jose';
import { AccountRepository, type AccountSource } from '../db/accounts.ts';
import type { AccountRef, AccountTokenVerifier, IdentifiedAccount } from './account-ref.ts';

/** Audience claim of account tokens. */
export const ACCOUNT_AUDIENCE = 'ret_account';
/** Issuer claim of account tokens. */
export const ACCOUNT_ISSUER = 'plexus';
/** Account token lifetime, seconds: 12 weeks, as Reticulum's Guardian tokens (reference/reticulum.md §3.4). */
export const ACCOUNT_TTL_SECONDS = 12 * 7 * 24 * 3600;

/**
 * Account ("auth") tokens: HS512 JWTs `{sub: account_id, aud: "ret_account",
 * iss: "plexus", iat, exp}` (Reticulum's auth token, reference/reticulum.md
 * §3.4). A token is valid only while its account is enabled and it was issued
 * at or after the account's `min_token_issued_at` (sign out everywhere).
 */
export class AccountTokens implements AccountTokenVerifier {
  private readonly key: Uint8Array;
  private readonly accounts: AccountRepository;

  /**
   * @param secret the node's shared secret (SESSION_SECRET or the generated one), at least 32 bytes;
   *   the HMAC key is the UTF-8 of `"account:" + secret`, so it differs from the session tokens' key
   * @param accounts where accounts are looked up: an AccountRepository or the Database
   */
  constructor(secret: string, accounts: AccountSource) {
    this.key = new TextEncoder().encode(`account:${secret}`);
    this.accounts = AccountRepository.of(accounts);
  }

  /** Issues a token for `accountId`. */
  async issue(accountId: string): Promise<string> {
    return new SignJWT({})
      .setProtectedHeader({ alg: 'HS512', typ: 'JWT' })
      .setSubject(accountId)
      .setAudience(ACCOUNT_AUDIENCE)
      .setIssuer(ACCOUNT_ISSUER)
      .setIssuedAt()
      .setExpirationTime(`${ACCOUNT_TTL_SECONDS}s`)
      .sign(this.key);
  }

  /** The token's account, or null (bad signature, expired, wrong audience, revoked, disabled, unknown). Never throws. */
  async verify(token: string): Promise<AccountRef | null> {
    const account = await this.identify(token);
    if (!account || account.disabled) return null;
    return { accountId: account.accountId, isAdmin: account.isAdmin };
  }

  /** The token's account, disabled or not; null when the token is bad, expired, revoked or the account unknown. Never throws. */
  async identify(token: string): Promise<IdentifiedAccount | null> {
    let sub: string | undefined;
    let iat: number | undefined;
    try {
      const { payload } = await jwtVerify(token, this.key, { audience: ACCOUNT_AUDIENCE, issuer: ACCOUNT_ISSUER, algorithms: ['HS512'] });
      sub = payload.sub;
      iat = payload.iat;
    } catch {
      return null;
    }
    if (!sub || iat === undefined) return null;
    const account = await this.accounts.find(sub);
    if (!account) return null;
    if (iat * 1000 < Math.floor(account.minTokenIssuedAt.getTime() / 1000) * 1000) return null;
    return { accountId: account.accountId, isAdmin: account.isAdmin, disabled: account.state !== 'enabled' };
  }
}
