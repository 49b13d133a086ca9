import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SignJWT, exportJWK, type JWK } from 'jose';
import { AccountRepository, type AccountSource } from '../db/accounts.ts';
import type { HubPermissions } from './permissions.ts';
import type { AccountRef } from './account-ref.ts';

/** Whom a room perms token is for: a member of a room (the hub channel's member is one). */
export interface PermsSubject {
  /** The signed-in account, or null for an anonymous member. */
  readonly account: AccountRef | null;
  /** The member's current room permissions. */
  readonly permissions: HubPermissions;
  /** The room (its public hub_sid). */
  readonly hub: { readonly hubSid: string };
}

/** Audience claim of perms tokens (Reticulum's `ret_perms`). */
export const PERMS_AUDIENCE = 'ret_perms';
/** Perms token lifetime, seconds: 5 minutes, as Reticulum (reference/reticulum.md §3.3). */
export const PERMS_TTL_SECONDS = 5 * 60;
/** A token with the same subject and claims is handed out again for this long, ms. */
const REUSE_MS = 60_000;

/** Reticulum's global perms: `create_hub`, `tweet`, `account_id`, and `postgrest_role` for admins (reference/reticulum.md §1.1, §3.3). */
function globalClaims(account: AccountRef | null): Record<string, unknown> {
  const claims: Record<string, unknown> = { create_hub: true, tweet: false, account_id: account?.accountId ?? '' };
  if (account?.isAdmin) claims.postgrest_role = 'ret_admin';
  return claims;
}

/** A new 2048-bit RSA private key, PKCS#8 PEM. */
function newRsaKeyPem(): string {
  return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/**
 * Perms tokens: RS512 JWTs carrying a member's room permissions under
 * Reticulum's claim names (reference/reticulum.md §3.3), for an SFU or other
 * service to check with the public key published as a JWKS
 * (`GET /.well-known/jwks.json`).
 */
export class PermsTokens {
  private constructor(
    private readonly privateKey: KeyObject,
    /** The public key as a JWK with `kid`, `alg: RS512`, `use: sig`. */
    readonly jwk: JWK,
  ) {}

  /**
   * Loads the signing key: `configuredPem` (PERMS_PRIVATE_KEY) when given.
   * Else the deployment's key kept in the database (`app_secrets`, so every
   * node of a cluster signs with one key); the first node to start stores
   * its `dataDir/perms-key.pem`, or a new 2048-bit RSA key. The agreed key is
   * (re)written to `dataDir/perms-key.pem` (mode 0600) when that file differs.
   * @param secrets where the deployment's key is kept (`app_secrets`): an AccountRepository or the Database
   * @throws Error when the configured PEM is not an RSA private key
   */
  static async load(configuredPem: string | null, dataDir: string, secrets: AccountSource): Promise<PermsTokens> {
    const repository = AccountRepository.of(secrets);
    let pem = configuredPem;
    if (!pem) {
      const file = path.join(dataDir, 'perms-key.pem');
      const local = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null;
      pem = (await repository.readAppSecret('perms_private_key')) ?? (await repository.agreeOnAppSecret('perms_private_key', local ?? newRsaKeyPem()));
      if (pem !== local) {
        fs.mkdirSync(dataDir, { recursive: true });
        fs.writeFileSync(file, pem, { mode: 0o600 });
        fs.chmodSync(file, 0o600);
      }
    }
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(pem);
    } catch (err) {
      throw new Error(`PERMS_PRIVATE_KEY is not a PEM private key (${(err as Error).message}); give an RSA key in PEM, or unset it to have one generated.`);
    }
    if (privateKey.asymmetricKeyType !== 'rsa') throw new Error('PERMS_PRIVATE_KEY must be an RSA key (perms tokens are RS512).');
    const jwk = await exportJWK(createPublicKey(privateKey));
    const kid = createHash('sha256').update(`${jwk.n}.${jwk.e}`).digest('base64url').slice(0, 16);
    return new PermsTokens(privateKey, { ...jwk, kid, alg: 'RS512', use: 'sig' });
  }

  /** The JWKS document: `{keys: [jwk]}`. */
  jwks(): { keys: JWK[] } {
    return { keys: [this.jwk] };
  }

  /**
   * A perms token for a room member (reference/reticulum.md §3.3): the
   * member's room permissions (`join_hub`, `kick_users`, `voice_chat`, ...),
   * the global claims of {@link issueGlobal}, `hub_id` (the hub_sid) and
   * `account_id` ("" when anonymous); `sub` is `"<account_id>_<hub_id>"`,
   * `aud` `"ret_perms"`, RS512, 5 minutes. This is the function the join
   * reply's `perms_token` and `refresh_perms_token` use.
   */
  issueFor(member: PermsSubject): Promise<string> {
    const accountId = member.account?.accountId ?? '';
    return this.sign({ ...member.permissions, ...globalClaims(member.account), hub_id: member.hub.hubSid, account_id: accountId }, `${accountId}_${member.hub.hubSid}`);
  }

  /**
   * A global perms token (the `ret` channel's `refresh_perms_token`,
   * reference/reticulum.md §1.1): `create_hub: true`, `tweet: false`,
   * `account_id` ("" when anonymous), and `postgrest_role: "ret_admin"` for
   * an admin; `sub` is `"<account_id>_global"`.
   */
  issueGlobal(account: AccountRef | null): Promise<string> {
    return this.sign(globalClaims(account), `${account?.accountId ?? ''}_global`);
  }

  /** Tokens issued in the last minute, by subject and claims: an RS512 signature costs about a millisecond, and a room's members mostly share their claims. */
  private readonly recent = new Map<string, { token: Promise<string>; at: number }>();

  /** Signs, or reuses a token with the same subject and claims issued less than {@link REUSE_MS} ago (so it still has 4+ minutes left). */
  private sign(claims: Record<string, unknown>, sub: string): Promise<string> {
    const key = `${sub}\n${JSON.stringify(claims)}`;
    const now = Date.now();
    const hit = this.recent.get(key);
    if (hit && now - hit.at < REUSE_MS) return hit.token;
    if (this.recent.size >= 10_000) this.recent.clear();
    const token = this.signNow(claims, sub);
    this.recent.set(key, { token, at: now });
    token.catch(() => this.recent.delete(key));
    return token;
  }

  private signNow(claims: Record<string, unknown>, sub: string): Promise<string> {
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS512', typ: 'JWT', kid: this.jwk.kid })
      .setSubject(sub)
      .setAudience(PERMS_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${PERMS_TTL_SECONDS}s`)
      .sign(this.privateKey);
  }
}
