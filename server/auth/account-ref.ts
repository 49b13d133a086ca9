/**
 * The signed-in account as the rest of the server sees it, and the verifier
 * of account tokens (Reticulum's Guardian auth token, reference/reticulum.md §3.4).
 * channels/hub/hub-member.ts re-exports them.
 */

/** A signed-in account. */
export interface AccountRef {
  /** `accounts.account_id` (bigint as a decimal string). */
  accountId: string;
  isAdmin: boolean;
}

/** The account a valid token names, enabled or not (see {@link AccountTokenVerifier.identify}). */
export interface IdentifiedAccount extends AccountRef {
  disabled: boolean;
}

/**
 * Verifies the account token a client sends (`Authorization: Bearer`, the
 * join param `auth_token`, `sign_in {token}`).
 */
export interface AccountTokenVerifier {
  /**
   * @returns the account, or null when the token is invalid, expired, revoked
   *   (issued before `accounts.min_token_issued_at`) or the account is disabled
   */
  verify(token: string): Promise<AccountRef | null>;
  /**
   * As {@link verify}, but a disabled account's valid token still names it
   * (`disabled: true`), so a room can answer `join_denied` as Reticulum does
   * rather than `sign_in_failed`.
   * @returns null when the token is invalid, expired, revoked or its account is gone
   */
  identify(token: string): Promise<IdentifiedAccount | null>;
}
