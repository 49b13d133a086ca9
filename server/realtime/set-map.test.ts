import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SetMap } from './set-map.ts';

test('a SetMap key exists exactly while its set holds something, and add/delete say when a key starts and ends', () => {
  const m = new SetMap<string, number>();
  assert.equal(m.add('a', 1), true);
  assert.equal(m.add('a', 2), false);
  assert.equal(m.add('a', 2), false);
  assert.equal(m.count('a'), 2);
  assert.equal(m.delete('a', 3), false, 'not there');
  assert.equal(m.delete('b', 1), false, 'no such key');
  assert.equal(m.delete('a', 1), false, 'one left');
  assert.deepEqual([...m.keys()], ['a']);
  assert.equal(m.delete('a', 2), true, 'emptied');
  assert.equal(m.size, 0);
  assert.equal(m.get('a'), undefined);
  assert.equal(m.count('a'), 0);
});
