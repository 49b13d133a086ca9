import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { Logger } from 'pino';
import type { AccountTokens } from '../../auth/account-token.ts';
import type { Mailer } from '../../auth/mailer.ts';
import { identifierHash, type AccountRepository } from '../../db/accounts.ts';
import { ErrorCodes } from '../../errors.ts';
import { AppConfigKeys } from '../../app-config.ts';
import { error, ok } from '../../realtime/channel.ts';
import type { Channel, ChannelContext, ChannelRoute, Reply } from '../../realtime/channel.ts';
import type { KeyedLimiter } from '../../realtime/rate-limits.ts';
import { compile, describeErrors } from '../../validation/validator.ts';

/** What the auth channel needs. */
export interface AuthChannelDeps {
  /** Accounts, logins and login tokens. */
  accounts: AccountRepository;
  accountTokens: AccountTokens;
  mailer: Mailer;
  /** Salt of email hashes (`AccountRepository.identifierSalt` in server/db/accounts.ts: one per deployment, kept in the database). */
  secret: string;
  /** Origins a sign-in link may point at (`auth_request.origin` must be one). */
  allowedOrigins: () => readonly string[];
  /** Email address whose account is an admin, or null. */
  adminEmail: string | null;
  log: Logger;
  /** How long a channel lives, ms (Reticulum: 5 minutes). */
  lifetimeMs?: number;
  /** Delay before the channel closes after `auth_credentials`, ms (Reticulum: 5 s). */
  closeDelayMs?: number;
  /**
   * Limits on sign-in mails, counted over the cluster: per email address
   * (keyed by its salted hash, never the address) and per client IP
   * (`session.clientIp`). Absent: no limit.
   */
  mailLimits?: { perAddress: KeyedLimiter; perIp: KeyedLimiter };
  /** Runtime switches (`features|disable_sign_up`); absent: all off. */
  appConfig?: { flag(key: string): Promise<boolean> };
}

/**
 * One plain address `local@domain.tld`: RFC 5322 atext and dots before the
 * `@`, DNS labels after it. No spaces, commas, quotes or angle brackets, so a
 * request cannot name a second recipient or a display name.
 */
const EMAIL_PATTERN = "^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$";

/** Topic prefix of the sign-in channel. */
export const AUTH_TOPIC_PREFIX = 'auth:';

/** `origin` as `URL.origin` gives it (lower-case host, no default port), or null when it is not an http(s) origin without a path. */
function normalOrigin(origin: string): string | null {
  try {
    const u = new URL(origin);
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.username || u.password || u.pathname !== '/' || u.search || u.hash) return null;
    return u.origin;
  } catch {
    return null;
  }
}

/** Encrypts `text` with AES-256-GCM under `key`: base64url of iv ‖ tag ‖ ciphertext. */
function seal(key: Buffer, text: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

/** Reverses {@link seal}; null when the payload was not sealed with `key`. */
function unseal(key: Buffer, sealed: string): string | null {
  try {
    const raw = Buffer.from(sealed, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}

/** `auth_request {email, origin}`. */
const AuthRequest = Type.Object({
  email: Type.String({ minLength: 3, maxLength: 254, pattern: EMAIL_PATTERN }),
  origin: Type.String({ maxLength: 512, pattern: '^[Hh][Tt][Tt][Pp][Ss]?://[^/\\s]+$' }),
});
/** `auth_verified {token, payload}`, from the link. */
const AuthVerified = Type.Object({ token: Type.String({ minLength: 8, maxLength: 128 }), payload: Type.String({ minLength: 8, maxLength: 2048 }) });
/** Compiled once, when this module loads. */
const valid = { request: compile(AuthRequest), verified: compile(AuthVerified) };

/**
 * The email sign-in channel `auth:<random>` (Reticulum's AuthChannel,
 * reference/reticulum.md §1.3):
 * - join (any params) → `{session_id}`; the channel closes after 5 minutes;
 * - `auth_request {email, origin}` (once per channel; `origin` must be
 *   allowed; a disabled account gets no mail; past the per-address or
 *   per-IP mail limit: `rate_limited` with `retry_after` seconds, and no
 *   mail) mails a link `<origin>/?auth_topic&auth_token&auth_origin&auth_payload`
 *   whose payload is the email encrypted (AES-256-GCM) under a key kept with
 *   the login token; the reply is `{}` whether or not an account exists
 *   (with `features.disable_sign_up`, an email without an account gets no link);
 * - `auth_verified {token, payload}` uses up the token (30 minutes, single
 *   use), finds or creates the account and broadcasts `auth_credentials
 *   {credentials: <account token>, payload}` on the topic, so the page that
 *   asked signs in; the channel closes 5 s later. A bad token: `invalid_token`
 *   (also when sign-up was disabled meanwhile and the email has no account).
 */
class AuthChannel implements Channel {
  private requested = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly ctx: ChannelContext,
    private readonly deps: AuthChannelDeps,
  ) {}

  join(): Reply {
    this.timer = setTimeout(() => this.ctx.close(), this.deps.lifetimeMs ?? 5 * 60 * 1000);
    this.timer.unref();
    return ok({ session_id: this.ctx.session.sessionId });
  }

  async handleIn(event: string, payload: unknown): Promise<Reply | undefined> {
    if (event === 'auth_request') return this.request(payload);
    if (event === 'auth_verified') return this.verified(payload);
    return error(ErrorCodes.UNKNOWN_EVENT, `The auth channel handles auth_request and auth_verified, not ${JSON.stringify(event.slice(0, 64))}.`);
  }

  private async request(payload: unknown): Promise<Reply> {
    if (!valid.request(payload)) return error(ErrorCodes.INVALID_PAYLOAD, `auth_request: ${describeErrors(valid.request.errors)}; send {email, origin}.`);
    if (this.requested) return error(ErrorCodes.ALREADY_SENT, 'A sign-in link was already sent from this channel; check your mail, or join a new auth channel.');
    const { email, origin: given } = payload;
    const origin = normalOrigin(given);
    if (origin === null || !this.deps.allowedOrigins().some((o) => normalOrigin(o) === origin)) {
      return error(ErrorCodes.INVALID_ORIGIN, `origin ${JSON.stringify(given)} is not one this server sends sign-in links to; use one of AUTH_ALLOWED_ORIGINS (the page's location.origin).`);
    }
    const hash = identifierHash(email, this.deps.secret);
    const limits = this.deps.mailLimits;
    if (limits) {
      const wait = (await limits.perIp.take(this.ctx.session.clientIp)) || (await limits.perAddress.take(hash));
      if (wait > 0) {
        return error(ErrorCodes.RATE_LIMITED, `Too many sign-in mails were asked for this address or from your network; check your mail for an earlier link, or try again in ${wait} s.`, { retry_after: wait });
      }
    }
    this.requested = true;
    // A disabled account gets no link, nor (with sign-up disabled) an email without an account; the reply is the same, as Reticulum's.
    const existing = await this.deps.accounts.findByLogin(hash);
    if (existing?.state === 'disabled') return ok();
    if (!existing && (await this.signUpDisabled())) return ok();
    const { token, payloadKey } = await this.deps.accounts.createLoginToken(hash);
    const link = new URL('/', origin);
    link.searchParams.set('auth_topic', this.ctx.topic);
    link.searchParams.set('auth_token', token);
    link.searchParams.set('auth_origin', origin);
    link.searchParams.set('auth_payload', seal(payloadKey, email.trim()));
    try {
      await this.deps.mailer.send(email.trim(), 'Your sign-in link', `Open this link to sign in (it works once, for 30 minutes):\n\n${link.href}\n`);
    } catch (err) {
      this.deps.log.warn({ err: (err as Error).message }, 'sign-in mail could not be sent');
      return error(ErrorCodes.MAIL_FAILED, 'The sign-in mail could not be sent; try again later.');
    }
    return ok();
  }

  private async verified(payload: unknown): Promise<Reply> {
    if (!valid.verified(payload)) return error(ErrorCodes.INVALID_PAYLOAD, `auth_verified: ${describeErrors(valid.verified.errors)}; send {token, payload} from the link.`);
    const { token, payload: sealed } = payload;
    const login = await this.deps.accounts.consumeLoginToken(token);
    const email = login ? unseal(login.payloadKey, sealed) : null;
    if (!login || email === null || identifierHash(email, this.deps.secret) !== login.identifierHash) {
      return error(ErrorCodes.INVALID_TOKEN, 'This sign-in link is invalid, used or expired (links last 30 minutes); ask for a new one.');
    }
    const isAdmin = this.deps.adminEmail !== null && email.trim().toLowerCase() === this.deps.adminEmail.trim().toLowerCase();
    if (!(await this.deps.accounts.findByLogin(login.identifierHash)) && (await this.signUpDisabled())) {
      return error(ErrorCodes.INVALID_TOKEN, 'Sign-up is closed on this server: only existing accounts may sign in.');
    }
    const account = await this.deps.accounts.findOrCreate(login.identifierHash, isAdmin);
    if (account.state !== 'enabled') {
      return error(ErrorCodes.INVALID_TOKEN, 'This account is disabled and cannot sign in; ask the server\'s administrator.');
    }
    const credentials = await this.deps.accountTokens.issue(account.accountId);
    this.ctx.broadcast('auth_credentials', { credentials, payload: sealed });
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.ctx.close(), this.deps.closeDelayMs ?? 5000);
    this.timer.unref();
    return ok();
  }

  /** Reticulum's `can?(nil, create_account)`: false while features|disable_sign_up is on. */
  private async signUpDisabled(): Promise<boolean> {
    return this.deps.appConfig ? this.deps.appConfig.flag(AppConfigKeys.DISABLE_SIGN_UP) : false;
  }

  terminate(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}

/** The route serving `auth:<random>` topics (at most 128 characters). */
export function authChannelRoute(deps: AuthChannelDeps): ChannelRoute {
  return {
    matches: (topic) => topic.startsWith(AUTH_TOPIC_PREFIX) && topic.length > AUTH_TOPIC_PREFIX.length && topic.length <= 128,
    create: (ctx) => new AuthChannel(ctx, deps),
  };
}
