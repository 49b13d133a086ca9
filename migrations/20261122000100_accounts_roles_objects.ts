import type { Knex } from 'knex';

/**
 * Accounts, room roles and rules, moderation and persisted objects
 * (Reticulum's tables, reference/reticulum.md §1.3, §3, §5):
 * - `accounts`, `logins` (email only as a salted hash), `login_tokens`
 *   (magic links, stored as hashes, 30 minutes);
 * - `hubs` gains the creator account, description, promotion flag,
 *   user_data, scene URL and a full-text search column;
 * - `hub_role_memberships` (owners), `hub_invites`, `hub_bans` (kicks);
 * - `room_objects` (pinned glTF nodes), `entities` and `sub_entities`
 *   (entity state).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('accounts', (t) => {
    t.bigIncrements('account_id').primary();
    t.boolean('is_admin').notNullable().defaultTo(false);
    t.string('state', 16).notNullable().defaultTo('enabled');
    /** Account tokens issued before this instant are refused (sign out everywhere). */
    t.timestamp('min_token_issued_at', { useTz: true }).notNullable().defaultTo(knex.raw("'1970-01-01T00:00:00Z'"));
    t.timestamp('inserted_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`ALTER TABLE accounts ADD CONSTRAINT accounts_state_check CHECK (state IN ('enabled', 'disabled'))`);

  await knex.schema.createTable('logins', (t) => {
    t.bigIncrements('login_id').primary();
    t.bigInteger('account_id').notNullable().references('account_id').inTable('accounts').onDelete('CASCADE');
    /** Salted SHA-256 of the lower-cased email (hex); the email itself is never stored. */
    t.string('identifier_hash', 128).notNullable().unique();
    t.timestamp('inserted_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('login_tokens', (t) => {
    t.bigIncrements('login_token_id').primary();
    /** SHA-256 (hex) of the token mailed in the link. */
    t.string('token_hash', 64).notNullable().unique();
    t.string('identifier_hash', 128).notNullable();
    /** Key that decrypts the link's payload (the encrypted email), base64url. */
    t.string('payload_key', 128).notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('inserted_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.alterTable('hubs', (t) => {
    t.bigInteger('created_by_account_id').nullable().references('account_id').inTable('accounts').onDelete('SET NULL');
    t.text('description').nullable();
    t.boolean('allow_promotion').notNullable().defaultTo(false);
    t.jsonb('user_data').nullable();
    t.text('scene_url').nullable();
  });
  await knex.raw(
    `ALTER TABLE hubs ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('simple', coalesce(name, '') || ' ' || coalesce(description, ''))) STORED`,
  );
  await knex.raw('CREATE INDEX hubs_search_idx ON hubs USING GIN (search)');

  await knex.schema.createTable('hub_role_memberships', (t) => {
    t.bigIncrements('hub_role_membership_id').primary();
    t.bigInteger('hub_id').notNullable().references('hub_id').inTable('hubs').onDelete('CASCADE');
    t.bigInteger('account_id').notNullable().references('account_id').inTable('accounts').onDelete('CASCADE');
    t.timestamp('inserted_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['hub_id', 'account_id']);
  });

  await knex.schema.createTable('hub_invites', (t) => {
    t.bigIncrements('hub_invite_id').primary();
    t.bigInteger('hub_id').notNullable().references('hub_id').inTable('hubs').onDelete('CASCADE');
    t.string('hub_invite_sid', 32).notNullable().unique();
    t.string('state', 16).notNullable().defaultTo('active');
    t.timestamp('inserted_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`ALTER TABLE hub_invites ADD CONSTRAINT hub_invites_state_check CHECK (state IN ('active', 'revoked'))`);

  await knex.schema.createTable('hub_bans', (t) => {
    t.bigIncrements('hub_ban_id').primary();
    t.bigInteger('hub_id').notNullable().references('hub_id').inTable('hubs').onDelete('CASCADE');
    t.string('session_id', 64).nullable();
    t.bigInteger('account_id').nullable().references('account_id').inTable('accounts').onDelete('CASCADE');
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('inserted_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['hub_id', 'session_id']);
    t.index(['hub_id', 'account_id']);
  });

  await knex.schema.createTable('room_objects', (t) => {
    t.bigIncrements('room_object_id').primary();
    t.bigInteger('hub_id').notNullable().references('hub_id').inTable('hubs').onDelete('CASCADE');
    t.string('object_id', 128).notNullable();
    t.jsonb('gltf_node').notNullable();
    t.bigInteger('account_id').nullable().references('account_id').inTable('accounts').onDelete('SET NULL');
    t.timestamp('inserted_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['hub_id', 'object_id']);
  });

  await knex.schema.createTable('entities', (t) => {
    t.bigIncrements('entity_id').primary();
    t.bigInteger('hub_id').notNullable().references('hub_id').inTable('hubs').onDelete('CASCADE');
    t.string('nid', 128).notNullable();
    t.jsonb('create_message').notNullable();
    t.bigInteger('account_id').nullable().references('account_id').inTable('accounts').onDelete('SET NULL');
    t.timestamp('inserted_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['hub_id', 'nid']);
  });

  await knex.schema.createTable('sub_entities', (t) => {
    t.bigIncrements('sub_entity_id').primary();
    t.bigInteger('hub_id').notNullable().references('hub_id').inTable('hubs').onDelete('CASCADE');
    t.bigInteger('entity_id').notNullable().references('entity_id').inTable('entities').onDelete('CASCADE');
    t.string('nid', 128).notNullable();
    t.jsonb('update_message').notNullable();
    t.timestamp('inserted_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['hub_id', 'nid']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['sub_entities', 'entities', 'room_objects', 'hub_bans', 'hub_invites', 'hub_role_memberships']) await knex.schema.dropTable(table);
  await knex.raw('DROP INDEX IF EXISTS hubs_search_idx');
  await knex.schema.alterTable('hubs', (t) => {
    t.dropColumn('search');
    t.dropColumn('scene_url');
    t.dropColumn('user_data');
    t.dropColumn('allow_promotion');
    t.dropColumn('description');
    t.dropColumn('created_by_account_id');
  });
  for (const table of ['login_tokens', 'logins', 'accounts']) await knex.schema.dropTable(table);
}
