import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';

/**
 * Accounts and email sign-in (Reticulum `accounts`, `logins`,
 * `login_tokens`, reference/reticulum.md §1.3, §5). Emails are never
 * stored: a login is found by the salted hash of the lower-cased address.
 */

/** An account as stored. */
export interface AccountRecord {
  accountId: string;
  isAdmin: boolean;
  state: 'enabled' | 'disabled';
  /** Account tokens issued before this instant are refused. */
  minTokenIssuedAt: Date;
}

/** Lifetime of a login token (the magic link), ms: 30 minutes, as Reticulum. */
export const LOGIN_TOKEN_TTL_MS = 30 * 60 * 1000;

/** The stored identifier of an email: hex SHA-256 of the lower-cased, trimmed address salted with `secret`. */
export function identifierHash(email: string, secret: string): string {
  const normal = email.trim().toLowerCase();
  const salt = createHash('sha256').update(normal).update(secret).digest('hex');
  return createHash('sha256').update(normal).update(salt).digest('hex');
}

function fromRow(row: { account_id: string | number; is_admin: boolean; state: 'enabled' | 'disabled'; min_token_issued_at: Date | string }): AccountRecord {
  return { accountId: String(row.account_id), isAdmin: row.is_admin, state: row.state, minTokenIssuedAt: new Date(row.min_token_issued_at) };
}

/** The account with this id, or null. */
export async function findAccount(db: Knex, accountId: string): Promise<AccountRecord | null> {
  if (!/^\d{1,19}$/.test(accountId)) return null;
  const row = await db('accounts').where({ account_id: accountId }).first();
  return row ? fromRow(row) : null;
}

/**
 * The account of the login `hash`, created (with its login) when there is
 * none; `isAdmin` is applied to a new account and raised on an existing one.
 */
export async function findOrCreateAccount(db: Knex, hash: string, isAdmin: boolean): Promise<AccountRecord> {
  return db.transaction(async (trx) => {
    const login = (await trx('logins').where({ identifier_hash: hash }).first('account_id')) as { account_id: string } | undefined;
    if (login) {
      if (isAdmin) await trx('accounts').where({ account_id: login.account_id }).update({ is_admin: true, updated_at: new Date() });
      return fromRow(await trx('accounts').where({ account_id: login.account_id }).first());
    }
    const [account] = await trx('accounts').insert({ is_admin: isAdmin }).returning('*');
    await trx('logins').insert({ account_id: account.account_id, identifier_hash: hash }).onConflict('identifier_hash').ignore();
    return fromRow(account);
  });
}

/**
 * Creates a single-use login token for the login `hash`.
 * @returns the token (only its SHA-256 is stored) and the key that encrypts the link's payload
 */
export async function createLoginToken(db: Knex, hash: string): Promise<{ token: string; payloadKey: Buffer }> {
  const token = randomBytes(24).toString('base64url');
  const payloadKey = randomBytes(32);
  await db('login_tokens').insert({
    token_hash: createHash('sha256').update(token).digest('hex'),
    identifier_hash: hash,
    payload_key: payloadKey.toString('base64url'),
    expires_at: new Date(Date.now() + LOGIN_TOKEN_TTL_MS),
  });
  return { token, payloadKey };
}

/**
 * Uses up a login token: deletes it and returns its login hash and payload
 * key, or null when the token is unknown, already used or expired.
 */
export async function consumeLoginToken(db: Knex, token: string): Promise<{ identifierHash: string; payloadKey: Buffer } | null> {
  const tokenHash = createHash('sha256').update(token).digest('hex');
  const rows = (await db('login_tokens').where({ token_hash: tokenHash }).delete().returning(['identifier_hash', 'payload_key', 'expires_at'])) as Array<{
    identifier_hash: string;
    payload_key: string;
    expires_at: Date | string;
  }>;
  const row = rows[0];
  if (!row || new Date(row.expires_at).getTime() <= Date.now()) return null;
  return { identifierHash: row.identifier_hash, payloadKey: Buffer.from(row.payload_key, 'base64url') };
}

/**
 * The shared secret `name`: `candidate` when this is the first node to ask,
 * else what the first one stored (all nodes of a deployment share one database).
 */
export async function agreeOnAppSecret(db: Knex, name: string, candidate: string): Promise<string> {
  await db('app_secrets').insert({ name, value: candidate }).onConflict('name').ignore();
  const row = (await db('app_secrets').where({ name }).first('value')) as { value: string };
  return row.value;
}
