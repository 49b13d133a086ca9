import type { Knex } from 'knex';

/**
 * Secrets every node of a deployment must share (the perms token signing
 * key), agreed through the database: the first node to start inserts its
 * candidate, later ones read it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('app_secrets', (t) => {
    t.string('name', 64).primary();
    t.text('value').notNullable();
    t.timestamp('inserted_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('app_secrets');
}
