import type { Knex } from 'knex';

/**
 * Reticulum's runtime switches and room embedding (reference/reticulum.md §5, §9, §10):
 * - `app_configs`: one row per collapsed key (`features|disable_room_creation`),
 *   the value wrapped as `{"value": <json>}` as Reticulum stores it;
 * - `hubs.embed_token`: the token that lets a page embed the room
 *   (`/<hub_sid>/<slug>?embed_token=...`); rooms made before this migration get one.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('app_configs', (t) => {
    t.bigIncrements('app_config_id').primary();
    t.string('key', 512).notNullable().unique();
    t.jsonb('value').notNullable();
    t.timestamp('inserted_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.schema.alterTable('hubs', (t) => {
    t.string('embed_token', 64).nullable();
  });
  // gen_random_uuid() is built into PostgreSQL 13+ (and PGlite): 122 random bits, as 32 hex digits.
  await knex.raw(`UPDATE hubs SET embed_token = replace(gen_random_uuid()::text, '-', '') WHERE embed_token IS NULL`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('hubs', (t) => {
    t.dropColumn('embed_token');
  });
  await knex.schema.dropTable('app_configs');
}
