import type { Knex } from 'knex';
import type { Database } from './database.ts';

/**
 * Reticulum's runtime app config (`app_configs`, reference/reticulum.md §5,
 * §10): one row per collapsed key such as `features|disable_room_creation`,
 * the value stored wrapped as `{"value": <json>}` (so primitives fit a jsonb
 * column), as Reticulum's `Ret.AppConfig` does.
 */

/** One stored app config value; `value` is unwrapped, and `""` reads as null (as Reticulum). */
export interface AppConfigEntry {
  key: string;
  value: unknown;
}

/** Every stored app config value, oldest first (later keys win when they overlap). */
export async function listAppConfigs(db: Knex): Promise<AppConfigEntry[]> {
  const rows = (await db('app_configs').orderBy('app_config_id').select('key', 'value')) as Array<{ key: string; value: { value?: unknown } | null }>;
  return rows.map((r) => {
    const v = r.value?.value;
    return { key: r.key, value: v === '' || v === undefined ? null : v };
  });
}

/**
 * Sets each `[key, value]` (insert or replace), all in one transaction.
 * @throws the driver's error when the write fails (nothing is written then)
 */
export async function setAppConfigValues(db: Knex, entries: ReadonlyArray<readonly [string, unknown]>): Promise<void> {
  if (entries.length === 0) return;
  await db.transaction(async (trx) => {
    for (const [key, value] of entries) {
      await trx('app_configs')
        .insert({ key, value: JSON.stringify({ value }) })
        .onConflict('key')
        .merge({ value: JSON.stringify({ value }), updated_at: new Date() });
    }
  });
}

/** The `app_configs` rows over the {@link Database}: what server/app-config.ts reads and writes. */
export class AppConfigRepository {
  constructor(private readonly database: Pick<Database, 'knex'>) {}

  /** Every stored value, oldest first (see {@link listAppConfigs}). */
  list(): Promise<AppConfigEntry[]> {
    return listAppConfigs(this.database.knex);
  }

  /** Sets each `[key, value]` in one transaction (see {@link setAppConfigValues}). */
  set(entries: ReadonlyArray<readonly [string, unknown]>): Promise<void> {
    return setAppConfigValues(this.database.knex, entries);
  }
}
