import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cleanDisplayName, DISPLAY_NAME_KEY, guestName, initialDisplayName, MAX_DISPLAY_NAME_LENGTH, saveDisplayName, type NameStorage } from './display-name.ts';

function memoryStorage(initial: Record<string, string> = {}): NameStorage & { data: Record<string, string> } {
  const data = { ...initial };
  return { data, getItem: (k) => data[k] ?? null, setItem: (k, v) => void (data[k] = v) };
}

test('?name= wins over the stored name', () => {
  const storage = memoryStorage({ [DISPLAY_NAME_KEY]: 'Stored' });
  assert.deepEqual(initialDisplayName('?name=Alice', storage), { name: 'Alice', fromQuery: true });
  assert.deepEqual(initialDisplayName('', storage), { name: 'Stored', fromQuery: false });
  assert.deepEqual(initialDisplayName('', null), { name: '', fromQuery: false });
});

test('a storage that throws counts as empty', () => {
  const broken: NameStorage = {
    getItem: () => {
      throw new Error('denied');
    },
    setItem: () => {
      throw new Error('denied');
    },
  };
  assert.deepEqual(initialDisplayName('', broken), { name: '', fromQuery: false });
  saveDisplayName(broken, 'x');
});

test('names are trimmed, spaces collapsed and length capped', () => {
  assert.equal(cleanDisplayName('  Ada   Lovelace \n'), 'Ada Lovelace');
  assert.equal(cleanDisplayName('x'.repeat(100)).length, MAX_DISPLAY_NAME_LENGTH);
});

test('saved names come back next time, and guests get a numbered name', () => {
  const storage = memoryStorage();
  saveDisplayName(storage, 'Bob');
  assert.equal(initialDisplayName('', storage).name, 'Bob');
  assert.equal(guestName(() => 0), 'Guest 100');
  assert.equal(guestName(() => 0.999), 'Guest 999');
});
