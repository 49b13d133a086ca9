import { ErrorCodes } from '../../errors.ts';
import { Type } from '@sinclair/typebox';
import { error, ok } from '../../realtime/channel.ts';
import type { Channel, ChannelContext, ChannelRoute, Reply } from '../../realtime/channel.ts';
import { compile, describeErrors, nullable } from '../../validation/validator.ts';
import type { AccountRef, AccountTokenVerifier } from '../hub/hub-member.ts';

/** What the ret channel may use for signed-in sessions and global perms tokens (optional). */
export interface RetChannelDeps {
  accounts?: AccountTokenVerifier;
  permsTokens?: { issueGlobal(account: AccountRef | null): Promise<string> };
}

/** The topic of the per-session global channel. */
export const RET_TOPIC = 'ret';

const JoinParams = Type.Object({ hub_id: Type.Optional(nullable(Type.String({ maxLength: 64 }))), token: Type.Optional(nullable(Type.String())) });
const ChangeHub = Type.Object({ hub_id: Type.String({ maxLength: 64 }) });
/** Compiled once, when this module loads. */
const validate = { join: compile(JoinParams), changeHub: compile(ChangeHub) };

/**
 * The `ret` channel: Reticulum's per-session global channel
 * (reference/reticulum.md §1.1). Join params `{hub_id, token?}`; the reply is
 * `{vapid_public_key, session_id}`. The server pushes `notice` on it, e.g.
 * `{event: "ret-deploy", ret_version, ret_pool}` before a node shuts down, so
 * Hubs clients move to another node. `change_hub {hub_id}` is accepted;
 * `refresh_perms_token` replies `{perms_token}` with the global claims
 * (`create_hub`, `tweet`, `account_id` from the join's `token`, and
 * `postgrest_role: "ret_admin"` for an admin).
 */
class RetChannel implements Channel {
  private account: AccountRef | null = null;

  constructor(
    private readonly ctx: ChannelContext,
    private readonly deps: RetChannelDeps,
  ) {}

  async join(params: unknown): Promise<Reply> {
    if (!validate.join(params)) return error(ErrorCodes.INVALID_PAYLOAD, `Join params invalid: ${describeErrors(validate.join.errors)}. Send {hub_id: "<hub_sid>"}.`);
    const token = params.token;
    if (token) {
      const account = this.deps.accounts ? await this.deps.accounts.verify(token) : null;
      if (!account) return error(ErrorCodes.SIGN_IN_FAILED, 'Sign in failed: the token is invalid, expired or revoked.');
      this.account = account;
    }
    return ok({ vapid_public_key: null, session_id: this.ctx.session.sessionId });
  }

  async handleIn(event: string, payload: unknown): Promise<Reply> {
    if (event === 'refresh_perms_token') {
      if (!this.deps.permsTokens) return error(ErrorCodes.UNKNOWN_EVENT, 'This server issues no perms tokens.');
      return ok({ perms_token: await this.deps.permsTokens.issueGlobal(this.account) });
    }
    if (event === 'change_hub') {
      if (!validate.changeHub(payload)) return error(ErrorCodes.INVALID_PAYLOAD, `change_hub: ${describeErrors(validate.changeHub.errors)}; expected {hub_id}.`);
      return ok();
    }
    return error(ErrorCodes.UNKNOWN_EVENT, `The ret channel does not handle ${JSON.stringify(event.slice(0, 64))}.`);
  }

  terminate(): void {}
}

/** The route serving topic `ret`. */
export function retChannelRoute(deps: RetChannelDeps = {}): ChannelRoute {
  return {
    matches: (topic) => topic === RET_TOPIC,
    create: (ctx) => new RetChannel(ctx, deps),
  };
}
