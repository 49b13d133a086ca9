import type { Knex } from 'knex';

/** Rooms: Reticulum's `hubs` table, the fields Plexus v0 uses. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('hubs', (t) => {
    t.bigIncrements('hub_id').primary();
    t.string('hub_sid', 16).notNullable().unique();
    t.string('name', 64).notNullable();
    t.string('slug', 64).notNullable();
    t.string('entry_mode', 8).notNullable().defaultTo('allow');
    t.integer('member_permissions').notNullable().defaultTo(255);
    t.integer('room_size').nullable();
    t.string('creator_assignment_token_hash', 64).nullable();
    t.timestamp('inserted_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`ALTER TABLE hubs ADD CONSTRAINT hubs_entry_mode_check CHECK (entry_mode IN ('allow', 'invite', 'deny'))`);
  await knex.raw('ALTER TABLE hubs ADD CONSTRAINT hubs_member_permissions_check CHECK (member_permissions BETWEEN 0 AND 255)');
  await knex.raw('ALTER TABLE hubs ADD CONSTRAINT hubs_room_size_check CHECK (room_size IS NULL OR room_size >= 0)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('hubs');
}
