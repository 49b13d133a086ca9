import assert from 'node:assert/strict';
import { test } from 'node:test';
import { publicAddress } from '../app.ts';
import { chooseNode, LocalNodeDirectory, type NodeInfo } from './node-directory.ts';

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

test('LocalNodeDirectory lists only this node, once started', async () => {
  const dir = new LocalNodeDirectory('0'.repeat(32));
  assert.deepEqual(await dir.nodes(), []);
  dir.start(() => ({ phx_host: 'localhost', phx_port: '4000', connections: 2, draining: false }));
  assert.deepEqual(await dir.nodes(), [{ id: '0'.repeat(32), phx_host: 'localhost', phx_port: '4000', connections: 2, draining: false }]);
  await dir.close();
  assert.deepEqual(await dir.nodes(), []);
});

test('publicAddress takes PUBLIC_URL, with the scheme default port, or else HOST and the bound port', () => {
  assert.deepEqual(publicAddress({ publicUrl: 'https://node1.example.com', host: '0.0.0.0' }, 4000), { phx_host: 'node1.example.com', phx_port: '443' });
  assert.deepEqual(publicAddress({ publicUrl: 'http://10.0.0.5:4001/', host: '0.0.0.0' }, 4000), { phx_host: '10.0.0.5', phx_port: '4001' });
  assert.deepEqual(publicAddress({ publicUrl: null, host: '127.0.0.1' }, 4312), { phx_host: '127.0.0.1', phx_port: '4312' });
  assert.deepEqual(publicAddress({ publicUrl: null, host: '::1' }, 80), { phx_host: '[::1]', phx_port: '80' });
  assert.notEqual(publicAddress({ publicUrl: null, host: '0.0.0.0' }, 80).phx_host, '0.0.0.0');
});
