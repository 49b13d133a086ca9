import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseNode } from './choose-node.ts';
import type { NodeInfo } from './node-directory.ts';

const node = (id: string, connections: number, draining = false): NodeInfo => ({ id, phx_host: `${id}.example`, phx_port: '443', connections, draining });

test('chooseNode names the asked node while it serves normally, however loaded', () => {
  const nodes = [node('a', 500), node('b', 3), node('c', 10)];
  assert.equal(chooseNode(nodes, 'a', true)?.id, 'a');
});

test('chooseNode names the least loaded other node when the asked one drains or is cut off', () => {
  const nodes = [node('a', 0, true), node('b', 30), node('c', 10), node('d', 1, true)];
  assert.equal(chooseNode(nodes, 'a', true)?.id, 'c');
  assert.equal(chooseNode([node('a', 0), node('b', 7)], 'a', false)?.id, 'b');
  assert.equal(chooseNode([node('a', 0, true)], 'a', true), null);
  assert.equal(chooseNode([], 'a', true), null);
});
