import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { Database } from './database.ts';

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

/**
 * The stored identifier of an email: hex HMAC-SHA-256 of the lower-cased,
 * trimmed address keyed with `salt` (see {@link loadIdentifierSalt}), so the
 * address itself is never stored and cannot be found by hashing a list of
 * guesses without the salt (reference/reticulum.md §5, `logins.identifier_hash`).
 */
export function identifierHash(email: string, salt: string): string {
  return createHmac('sha256', salt).update(email.trim().toLowerCase()).digest('hex');
}

/**
 * The salt of {@link identifierHash}: 32 random bytes (hex) made by the first
 * node that asks and kept in the database (`app_secrets`), so hashes live as
 * long as the accounts they find, whatever happens to SESSION_SECRET or DATA_DIR.
 */
export function loadIdentifierSalt(db: Knex): Promise<string> {
  return agreeOnAppSecret(db, 'identifier_salt', randomBytes(32).toString('hex'));
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

/** The account whose login is `hash` (see {@link identifierHash}), or null. */
export async function findAccountByLogin(db: Knex, hash: string): Promise<AccountRecord | null> {
  const row = await db('logins').join('accounts', 'accounts.account_id', 'logins.account_id').where('logins.identifier_hash', hash).first('accounts.*');
  return row ? fromRow(row) : null;
}

/**
 * The account of the login `hash`, created (with its login) when there is
 * none; `isAdmin` is applied to a new account and raised on an existing one.
 * Two first sign-ins racing for one email end with one account: the loser's
 * new account is deleted and the winner's returned.
 */
export async function findOrCreateAccount(db: Knex, hash: string, isAdmin: boolean): Promise<AccountRecord> {
  const existing = async (q: Knex | Knex.Transaction): Promise<AccountRecord | null> => {
    const login = (await q('logins').where({ identifier_hash: hash }).first('account_id')) as { account_id: string } | undefined;
    if (!login) return null;
    if (isAdmin) await q('accounts').where({ account_id: login.account_id }).update({ is_admin: true, updated_at: new Date() });
    return fromRow(await q('accounts').where({ account_id: login.account_id }).first());
  };
  return db.transaction(async (trx) => {
    const found = await existing(trx);
    if (found) return found;
    const [account] = await trx('accounts').insert({ is_admin: isAdmin }).returning('*');
    const inserted = await trx('logins').insert({ account_id: account.account_id, identifier_hash: hash }).onConflict('identifier_hash').ignore().returning('login_id');
    if (inserted.length > 0) return fromRow(account);
    await trx('accounts').where({ account_id: account.account_id }).delete();
    return (await existing(trx))!;
  });
}

/**
 * Sets an account's state; a disabled account's tokens are refused and it
 * cannot sign in (Reticulum's `accounts.state`).
 * @returns whether the account exists
 */
export async function setAccountState(db: Knex, accountId: string, state: 'enabled' | 'disabled'): Promise<boolean> {
  if (!/^\d{1,19}$/.test(accountId)) return false;
  return (await db('accounts').where({ account_id: accountId }).update({ state, updated_at: new Date() })) > 0;
}

/**
 * Signs an account out everywhere: its account tokens issued before now
 * (to the second, as JWT `iat`) are refused from now on
 * (`accounts.min_token_issued_at`, reference/reticulum.md §3.4).
 * @returns whether the account exists
 */
export async function revokeAccountTokens(db: Knex, accountId: string, at: Date = new Date()): Promise<boolean> {
  if (!/^\d{1,19}$/.test(accountId)) return false;
  return (await db('accounts').where({ account_id: accountId }).update({ min_token_issued_at: at, updated_at: new Date() })) > 0;
}

/**
 * Creates a single-use login token for the login `hash`.
 * @returns the token (only its SHA-256 is stored) and the key that encrypts the link's payload
 */
export async function createLoginToken(db: Knex, hash: string): Promise<{ token: string; payloadKey: Buffer }> {
  const token = randomBytes(24).toString('base64url');
  const payloadKey = randomBytes(32);
  // Links nobody opened are dropped once they expire.
  await db('login_tokens').where('expires_at', '<', new Date()).delete();
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

/** The shared secret `name` (`app_secrets`), or null when no node stored it yet. */
export async function readAppSecret(db: Knex, name: string): Promise<string | null> {
  const row = (await db('app_secrets').where({ name }).first('value')) as { value: string } | undefined;
  return row?.value ?? null;
}

/** What {@link AccountRepository.of} takes: a repository or the {@link Database}. */
export type AccountSource = AccountRepository | Pick<Database, 'knex'>;

/**
 * Accounts, logins, login tokens and the deployment's shared secrets
 * (`accounts`, `logins`, `login_tokens`, `app_secrets`), over the
 * {@link Database}: the way code outside db/ reaches them (auth/, the auth
 * channel). Methods are the free functions of this module; each throws the
 * driver's error (or PlexusError `unavailable` on a timeout) when the database fails.
 */
export class AccountRepository {
  constructor(private readonly database: Pick<Database, 'knex'>) {}

  /** `source` as a repository (itself when it is one). */
  static of(source: AccountSource): AccountRepository {
    if (source instanceof AccountRepository) return source;
    return new AccountRepository(source);
  }

  private get db(): Knex {
    return this.database.knex;
  }

  /** The salt of {@link identifierHash}, agreed once per deployment. */
  identifierSalt(): Promise<string> {
    return loadIdentifierSalt(this.db);
  }

  /** The account with this id, or null. */
  find(accountId: string): Promise<AccountRecord | null> {
    return findAccount(this.db, accountId);
  }

  /** The account whose login is `hash`, or null. */
  findByLogin(hash: string): Promise<AccountRecord | null> {
    return findAccountByLogin(this.db, hash);
  }

  /** The account of the login `hash`, created when there is none (see {@link findOrCreateAccount}). */
  findOrCreate(hash: string, isAdmin: boolean): Promise<AccountRecord> {
    return findOrCreateAccount(this.db, hash, isAdmin);
  }

  /** Enables or disables an account; false when there is no such account. */
  setState(accountId: string, state: 'enabled' | 'disabled'): Promise<boolean> {
    return setAccountState(this.db, accountId, state);
  }

  /** Refuses the account's tokens issued before `at`; false when there is no such account. */
  revokeTokens(accountId: string, at?: Date): Promise<boolean> {
    return revokeAccountTokens(this.db, accountId, at);
  }

  /** A single-use login token for the login `hash`, and the key of the link's payload. */
  createLoginToken(hash: string): Promise<{ token: string; payloadKey: Buffer }> {
    return createLoginToken(this.db, hash);
  }

  /** Uses up a login token; null when unknown, used or expired. */
  consumeLoginToken(token: string): Promise<{ identifierHash: string; payloadKey: Buffer } | null> {
    return consumeLoginToken(this.db, token);
  }

  /** The shared secret `name`: `candidate` for the first node to ask, else what the first one stored. */
  agreeOnAppSecret(name: string, candidate: string): Promise<string> {
    return agreeOnAppSecret(this.db, name, candidate);
  }

  /** The shared secret `name`, or null when none is stored yet. */
  readAppSecret(name: string): Promise<string | null> {
    return readAppSecret(this.db, name);
  }
}
