/**
 * Rooms in the database, run against embedded PGlite and a real PostgreSQL 15
 * (TEST_DATABASE_URL, or a throwaway server started here).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openDatabase } from './database.ts';
import type { Database, DatabaseLocation } from './database.ts';
import { HubRepository } from './hub-repository.ts';
import { createHub, hashToken, HUB_SID_PATTERN, slugify } from './hubs.ts';
import { findOrCreateAccount } from './accounts.ts';
import { databaseBackends } from '../test-support/db-backends.ts';


for (const backend of databaseBackends) {
  describe(`rooms on ${backend.name}`, () => {
    let location: DatabaseLocation;
    let cleanup: () => Promise<void>;
    let db: Database;
    before(async () => {
      ({ location, cleanup } = await backend.setup());
      db = await openDatabase(location);
    });
    after(async () => {
      await db?.close();
      await cleanup?.();
    });

    test('migrations create the hubs table with its defaults', async () => {
      const { hub } = await createHub(db.knex, { name: 'Defaults' });
      assert.equal(hub.entryMode, 'allow');
      // Reticulum's default for new rooms: voice and text chat only.
      assert.equal(hub.memberPermissions, 192);
      assert.equal(hub.roomSize, null);
      assert.ok(hub.insertedAt instanceof Date);
      assert.equal(typeof hub.id, 'string');
    });

    test('a created room is found by its hub_sid with its slug, and only its token hash is stored', async () => {
      const { hub, creatorAssignmentToken } = await createHub(db.knex, { name: 'Café Meetup #1', roomSize: 10 });
      assert.match(hub.hubSid, HUB_SID_PATTERN);
      const found = await new HubRepository(db).findBySid(hub.hubSid);
      assert.equal(found?.name, 'Café Meetup #1');
      assert.equal(found?.slug, 'cafe-meetup-1');
      assert.equal(found?.roomSize, 10);
      const row = await db.knex('hubs').where({ hub_sid: hub.hubSid }).first();
      assert.equal(row.creator_assignment_token_hash, hashToken(creatorAssignmentToken!));
      assert.ok(!JSON.stringify(row).includes(creatorAssignmentToken!));
    });

    test('the creator assignment token is spent by its first claim: racing claims by ten accounts give one creator, and the token then works nowhere', async () => {
      const { hub, creatorAssignmentToken: token } = await createHub(db.knex, { name: 'Claimed' });
      assert.ok(token, 'a room created without an account has a creator assignment token');
      const creatorAssignmentToken: string = token;
      const accounts = await Promise.all(Array.from({ length: 10 }, (_, i) => findOrCreateAccount(db.knex, `claim-${hub.hubSid}-${i}`, false)));
      assert.equal(await new HubRepository(db).claimCreatorAssignment(hub.id, 'not-the-token', accounts[0]!.accountId), false);
      const results = await Promise.all(accounts.map((a) => new HubRepository(db).claimCreatorAssignment(hub.id, creatorAssignmentToken, a.accountId)));
      assert.equal(results.filter(Boolean).length, 1);
      const winner = accounts[results.indexOf(true)]!;
      assert.equal((await new HubRepository(db).findBySid(hub.hubSid))?.createdByAccountId, winner.accountId);
      assert.equal(await new HubRepository(db).isCreatorAssignmentToken(hub.id, creatorAssignmentToken), false);
      assert.equal(await new HubRepository(db).claimCreatorAssignment(hub.id, creatorAssignmentToken, accounts[0]!.accountId), false);
      const row = await db.knex('hubs').where({ hub_id: hub.id }).first('creator_assignment_token_hash');
      assert.equal(row.creator_assignment_token_hash, null);
    });

    test('unknown and malformed hub_sids find nothing', async () => {
      assert.equal(await new HubRepository(db).findBySid('Nope123'), null);
      assert.equal(await new HubRepository(db).findBySid("x' OR 1=1 --"), null);
    });

    test('the database refuses an entry_mode outside allow, invite and deny', async () => {
      const { hub } = await createHub(db.knex, { name: 'Check' });
      await assert.rejects(db.knex('hubs').where({ hub_sid: hub.hubSid }).update({ entry_mode: 'open' }), /hubs_entry_mode_check/);
    });

    test('many rooms created at once all get distinct sids', async () => {
      const created = await Promise.all(Array.from({ length: 30 }, (_, i) => createHub(db.knex, { name: `Room ${i}` })));
      assert.equal(new Set(created.map((c) => c.hub.hubSid)).size, 30);
    });

    test('rooms survive closing and reopening the database, and migrating again changes nothing', async () => {
      const { hub } = await createHub(db.knex, { name: 'Durable' });
      await db.close();
      db = await openDatabase(location);
      assert.equal((await new HubRepository(db).findBySid(hub.hubSid))?.name, 'Durable');
      const migrations = await db.knex('knex_migrations').select('name');
      assert.deepEqual(migrations.map((m) => m.name), ['20261122000000_create_hubs', '20261122000100_accounts_roles_objects', '20261122000200_app_secrets', '20261122000300_app_configs_embed_tokens']);
    });
  });
}

test('slugs are lower-case words joined by dashes, never empty', () => {
  assert.equal(slugify('  Hello, World!  '), 'hello-world');
  assert.equal(slugify('¡¡¡'), 'room');
  assert.equal(slugify('x'.repeat(100)).length, 64);
});
