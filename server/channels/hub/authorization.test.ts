/**
 * The authorization matrix, in process (channel-case.ts): each guarded hub event
 * pushed by each role (creator, owner, signed-in member, anonymous member,
 * kicked member) is allowed or refused as README "Roles, permissions and
 * moderation" says. The room uses Reticulum's restrictive member
 * permissions (voice_chat and text_chat only), so member and owner rights differ.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { channelSuite, type ChannelClient } from '../../test-support/channel-case.ts';
import { findOrCreateAccount } from '../../db/accounts.ts';
import { callIn, joinRoom, type Frame, type RoomMember } from '../../test-support/raw-client.ts';

const suite = channelSuite({ accountTokens: true, env: { KICK_BAN_SECONDS: '600' } });
const { clients } = suite;

type Member = RoomMember<ChannelClient>;

async function accountToken(name: string): Promise<string> {
  const account = await findOrCreateAccount(suite.node.server.database.knex, `hash-${name}-${randomBytes(4).toString('hex')}`, false);
  return suite.tokens.issue(account.accountId);
}

const join = (topic: string, params: Record<string, unknown> = {}): Promise<Member> => joinRoom(suite.node, topic, params, { track: clients });
const call = callIn;

/**
 * Pushes an event that may get no reply (a relayed naf or message), then a
 * heartbeat: frames are handled in order, so once the heartbeat's reply is
 * here, the event's reply (if any) is too. Returns it, or undefined.
 */
async function callOrSilence(m: Member, topic: string, event: string, payload: unknown): Promise<Frame | undefined> {
  const ref = m.c.push(m.jr, topic, event, payload);
  const beat = m.c.push(null, 'phoenix', 'heartbeat', {});
  await m.c.reply(beat);
  return m.c.frames.find((f) => f[1] === ref && f[3] === 'phx_reply');
}

type Role = 'creator' | 'owner' | 'signedIn' | 'anonymous';

// event → payload maker → roles allowed (the rest must be refused with the named permission, or as the row says).
type Row = { event: string; payload: () => Promise<unknown> | unknown; allowed: Role[]; permission: string; anonymous?: string; reason?: string; emptyOk?: boolean };

/** A room whose guarded events the matrix pushes, and one member of each role in it. */
interface MatrixRoom {
  topic: string;
  m: Record<Role, Member>;
}

test('each guarded event by each role is allowed or refused as specified, and a kicked member cannot come back', async () => {
  const room = await matrixRoom();
  const matrix = matrixRows(room);
  const outcome = await matrixOutcome(room, matrix);
  assert.deepEqual(outcome, expectedOutcome(matrix));
  await kickedCannotComeBack(room);
});

/** Creates the room with Reticulum's restrictive member permissions, joins one member per role, makes the owner an owner and saves the entity `root`. */
async function matrixRoom(): Promise<MatrixRoom> {
  const { hubSid, creatorAssignmentToken } = await suite.node.createRoom('Matrix');
  const topic = `hub:${hubSid}`;
  const m: Record<Role, Member> = {
    creator: await join(topic, { creator_assignment_token: creatorAssignmentToken }),
    owner: await join(topic, { auth_token: await accountToken('owner') }),
    signedIn: await join(topic, { auth_token: await accountToken('member') }),
    anonymous: await join(topic),
  };
  // Restrictive member permissions, as Reticulum's non-permissive rooms.
  const restrict = await call(m.creator, topic, 'update_hub', {
    member_permissions: { spawn_and_move_media: false, spawn_camera: false, spawn_drawing: false, pin_objects: false, spawn_emoji: false, fly: false, voice_chat: true, text_chat: true },
  });
  assert.equal(restrict[4].status, 'ok');
  assert.equal((await call(m.creator, topic, 'add_owner', { session_id: m.owner.sessionId }))[4].status, 'ok');
  await m.owner.c.waitFor((f) => f[3] === 'permissions_updated');

  // A saved entity for update_entity_state to update.
  assert.equal((await call(m.creator, topic, 'save_entity_state', { nid: 'root', create_message: {} }))[4].status, 'ok');
  return { topic, m };
}

/** The matrix: each guarded event, how to make its payload (some join targets or save entities first), and who may push it. */
function matrixRows({ topic, m }: MatrixRoom): Row[] {
  const spawn = (id: string) => ({ dataType: 'u', data: { networkId: id, owner: 'x', lastOwnerTime: 1, template: '#thing-media', persistent: false, isFirstSync: true, components: {} } });
  let n = 0;
  const targets: Member[] = [];
  const target = async (): Promise<string> => {
    const t = await join(topic);
    targets.push(t);
    return t.sessionId;
  };
  // Refusals as Reticulum answers them: entity events say not_logged_in to the anonymous, then unauthorized;
  // the invite events answer ok {} (no hub_invite_id) and change nothing.
  const entity = { anonymous: 'not_logged_in', reason: 'unauthorized' } as const;
  const emptyOk = { emptyOk: true } as const;
  const matrix: Row[] = [
    { event: 'naf', payload: () => spawn(`s${n++}`), allowed: ['creator', 'owner'], permission: 'spawn_and_move_media' },
    { event: 'message', payload: () => ({ type: 'chat', body: 'hi' }), allowed: ['creator', 'owner', 'signedIn', 'anonymous'], permission: 'text_chat' },
    { event: 'pin', payload: () => ({ id: `p${n++}`, gltf_node: { name: 'p' } }), allowed: ['creator', 'owner'], permission: 'pin_objects' },
    { event: 'save_entity_state', payload: () => ({ nid: `e${n++}`, create_message: {} }), allowed: ['creator', 'owner'], permission: 'pin_objects', ...entity },
    { event: 'update_hub', payload: () => ({ description: `d${n++}` }), allowed: ['creator', 'owner'], permission: 'update_hub' },
    { event: 'update_scene', payload: () => ({ url: 'https://example.com/s.glb' }), allowed: ['creator', 'owner'], permission: 'update_hub' },
    { event: 'fetch_invite', payload: () => ({}), allowed: ['creator', 'owner'], permission: 'update_hub', ...emptyOk },
    { event: 'mute', payload: async () => ({ session_id: await target() }), allowed: ['creator', 'owner'], permission: 'mute_users' },
    { event: 'kick', payload: async () => ({ session_id: await target() }), allowed: ['creator', 'owner'], permission: 'kick_users' },
    { event: 'add_owner', payload: async () => ({ session_id: (await join(topic, { auth_token: await accountToken(`t${n++}`) })).sessionId }), allowed: ['creator'], permission: 'update_roles' },
    { event: 'remove_owner', payload: async () => ({ session_id: (await join(topic, { auth_token: await accountToken(`r${n++}`) })).sessionId }), allowed: ['creator'], permission: 'update_roles' },
    { event: 'unpin', payload: () => ({ id: 'p0' }), allowed: ['creator', 'owner'], permission: 'pin_objects' },
    { event: 'update_entity_state', payload: () => ({ root_nid: 'root', nid: `u${n++}`, update_message: {} }), allowed: ['creator', 'owner'], permission: 'pin_objects', ...entity },
    { event: 'delete_entity_state', payload: async () => {
      const nid = `gone${n++}`;
      assert.equal((await call(m.creator, topic, 'save_entity_state', { nid, create_message: {} }))[4].status, 'ok');
      return { nid };
    }, allowed: ['creator', 'owner'], permission: 'pin_objects', ...entity },
    {
      event: 'revoke_invite',
      payload: async () => ({ hub_invite_id: (await call(m.creator, topic, 'fetch_invite', {}))[4].response.hub_invite_id }),
      allowed: ['creator', 'owner'],
      permission: 'update_hub',
      ...emptyOk,
    },
  ];
  return matrix;
}

/** Pushes each row's event as each role, in order: `event/role:allowed`, or what the refusal named (its reason checked). */
async function matrixOutcome({ topic, m }: MatrixRoom, matrix: Row[]): Promise<string[]> {
  const outcome: string[] = [];
  for (const row of matrix) {
    for (const role of ['creator', 'owner', 'signedIn', 'anonymous'] as Role[]) {
      const f = await callOrSilence(m[role], topic, row.event, await row.payload());
      // naf and message are not answered when relayed: no reply means allowed.
      if (f === undefined || (f[4].status === 'ok' && !(row.emptyOk && Object.keys(f[4].response).length === 0))) {
        outcome.push(`${row.event}/${role}:allowed`);
        continue;
      }
      if (f[4].status === 'ok') {
        outcome.push(`${row.event}/${role}:{}`);
        continue;
      }
      outcome.push(`${row.event}/${role}:${f[4].response.permission ?? f[4].response.reason}`);
      // Spawns keep their own reason (spawn_denied), which also names the permission.
      const reason = row.event === 'naf' ? 'spawn_denied' : role === 'anonymous' && row.anonymous ? row.anonymous : (row.reason ?? 'permission_denied');
      assert.equal(f[4].response.reason, reason, `${row.event} by ${role}: ${JSON.stringify(f[4])}`);
    }
  }
  return outcome;
}

/** What {@link matrixOutcome} must give for `matrix`. */
function expectedOutcome(matrix: Row[]): string[] {
  const refusal = (row: Row, role: Role) => (row.emptyOk ? '{}' : role === 'anonymous' && row.anonymous ? row.anonymous : row.permission);
  const expected = matrix.flatMap((row) => (['creator', 'owner', 'signedIn', 'anonymous'] as Role[]).map((role) => `${row.event}/${role}:${row.allowed.includes(role) ? 'allowed' : refusal(row, role)}`));
  return expected;
}

/** A kicked session is refused on rejoin, whichever role it had; then only owners may close the room. */
async function kickedCannotComeBack({ topic, m }: MatrixRoom): Promise<void> {
  // Kicked: the session is refused, whichever role it had.
  const kicked = await join(topic, { auth_token: await accountToken('kicked') });
  const token = (kicked.c.frames.find((f) => f[3] === 'phx_reply')![4].response.session_token) as string;
  assert.equal((await call(m.owner, topic, 'kick', { session_id: kicked.sessionId }))[4].status, 'ok');
  assert.equal(await kicked.c.waitClose(), 4003);
  const back = await suite.node.connect(`&session_token=${encodeURIComponent(token)}`);
  clients.push(back);
  assert.equal((await back.join(topic, { profile: {}, context: {} }))[4].response.reason, 'join_denied');
  // Finally the owners may close the room; members may not.
  assert.equal((await call(m.signedIn, topic, 'close_hub', {}))[4].response.permission, 'close_hub');
  assert.equal((await call(m.anonymous, topic, 'close_hub', {}))[4].response.permission, 'close_hub');
  assert.equal((await call(m.owner, topic, 'close_hub', {}))[4].status, 'ok');
}
