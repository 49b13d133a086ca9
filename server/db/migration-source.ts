import type { Knex } from 'knex';
import * as createHubs from '../../migrations/20261122000000_create_hubs.ts';
import * as accountsRolesObjects from '../../migrations/20261122000100_accounts_roles_objects.ts';
import * as appSecrets from '../../migrations/20261122000200_app_secrets.ts';
import * as appConfigsEmbedTokens from '../../migrations/20261122000300_app_configs_embed_tokens.ts';

/**
 * The migrations, by extension-free name, so that `.ts` (development) and a
 * compiled `.js` build record the same history (knex stores file names with
 * their extension otherwise; reference/toolchain-notes.md §2). Forward-only:
 * add new migrations to the end of this map.
 */
const migrations: Record<string, Knex.Migration> = {
  '20261122000000_create_hubs': createHubs,
  '20261122000100_accounts_roles_objects': accountsRolesObjects,
  '20261122000200_app_secrets': appSecrets,
  '20261122000300_app_configs_embed_tokens': appConfigsEmbedTokens,
};

/** A knex migration source over {@link migrations}. */
export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations).sort(),
  getMigrationName: (name) => name,
  getMigration: async (name) => migrations[name],
};
