import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isHubSid, parseRoomPath, roomPathFromInput } from './room-url.ts';

test('hub_sids are exactly 7 letters or digits', () => {
  assert.ok(isHubSid('AbC12xZ'));
  assert.ok(!isHubSid('AbC12x'));
  assert.ok(!isHubSid('AbC12xZ9'));
  assert.ok(!isHubSid('AbC-2xZ'));
});

test('room paths parse with or without a slug', () => {
  assert.deepEqual(parseRoomPath('/AbC12xZ'), { hubSid: 'AbC12xZ', slug: null });
  assert.deepEqual(parseRoomPath('/AbC12xZ/my-room/'), { hubSid: 'AbC12xZ', slug: 'my-room' });
  assert.equal(parseRoomPath('/'), null);
  assert.equal(parseRoomPath('/assets/app.js'), null);
  assert.equal(parseRoomPath('/AbC12xZ/a/b'), null);
});

test('"Join by link" accepts full URLs, paths and bare codes', () => {
  assert.equal(roomPathFromInput('  http://other.host:4000/AbC12xZ/my-room?x=1 '), '/AbC12xZ/my-room');
  assert.equal(roomPathFromInput('/AbC12xZ'), '/AbC12xZ');
  assert.equal(roomPathFromInput('AbC12xZ/my-room'), '/AbC12xZ/my-room');
  assert.equal(roomPathFromInput('AbC12xZ'), '/AbC12xZ');
  assert.equal(roomPathFromInput(''), null);
  assert.equal(roomPathFromInput('https://example.com/not/a/room/path'), null);
});
