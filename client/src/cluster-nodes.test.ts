import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  chooseNode,
  metaCandidates,
  metaUrlForNode,
  NodeFinder,
  nodeOfSocketUrl,
  parseMeta,
  sameNode,
  socketUrlForNode,
  type NodeAddress,
} from './cluster-nodes.ts';

const page = { protocol: 'http:', hostname: '127.0.0.1', port: '4001' };
const n1: NodeAddress = { phx_host: '127.0.0.1', phx_port: '4001' };
const n2: NodeAddress = { phx_host: '127.0.0.1', phx_port: '4002' };
const n3: NodeAddress = { phx_host: 'node3.plexus.test', phx_port: '443' };

test('a cluster meta answer gives the named node and the valid entries of nodes', () => {
  const meta = parseMeta({
    version: '0.1.0',
    pool: 'default',
    phx_host: '127.0.0.1',
    phx_port: '4002',
    nodes: [n1, n2, { phx_host: 'evil.test/x?', phx_port: '1' }, { phx_host: 'a.test', phx_port: '99999' }, 'junk', n2],
  });
  assert.deepEqual(meta, { node: n2, nodes: [n1, n2] });
});

test('a single-node meta answer (phx_port null, nodes []) still names the host', () => {
  assert.deepEqual(parseMeta({ version: '0.1.0', pool: 'default', phx_host: 'plexus.test', phx_port: null, nodes: [] }), {
    node: { phx_host: 'plexus.test', phx_port: null },
    nodes: [],
  });
  assert.deepEqual(parseMeta({ phx_host: 'a.test', phx_port: 4312 }), { node: { phx_host: 'a.test', phx_port: '4312' }, nodes: [] });
});

test('a meta answer that is not an object is refused; one without a host names no node', () => {
  assert.equal(parseMeta(null), null);
  assert.equal(parseMeta([n1]), null);
  assert.equal(parseMeta('x'), null);
  assert.deepEqual(parseMeta({ nodes: [n3] }), { node: null, nodes: [n3] });
});

test('meta and socket URLs of a node use the page scheme and bracket IPv6 hosts', () => {
  assert.equal(metaUrlForNode(n2, page), 'http://127.0.0.1:4002/api/v1/meta');
  assert.equal(socketUrlForNode(n2, page), 'ws://127.0.0.1:4002/socket/websocket');
  const https = { protocol: 'https:', hostname: 'hub.test', port: '' };
  assert.equal(metaUrlForNode(n3, https), 'https://node3.plexus.test:443/api/v1/meta');
  assert.equal(socketUrlForNode({ phx_host: '::1', phx_port: '4000' }, https), 'wss://[::1]:4000/socket/websocket');
  // No port: the page's port on the page's host, the scheme default elsewhere.
  assert.equal(socketUrlForNode({ phx_host: '127.0.0.1', phx_port: null }, page), 'ws://127.0.0.1:4001/socket/websocket');
  assert.equal(socketUrlForNode({ phx_host: 'other.test', phx_port: null }, page), 'ws://other.test/socket/websocket');
});

test('the node of a socket endPoint: a path is the page node, a URL its host and port', () => {
  assert.ok(sameNode(nodeOfSocketUrl('/socket/websocket', page)!, n1, page));
  assert.deepEqual(nodeOfSocketUrl('ws://127.0.0.1:4002/socket/websocket', page), n2);
  assert.deepEqual(nodeOfSocketUrl('wss://[::1]:9/socket/websocket', page), { phx_host: '::1', phx_port: '9' });
  assert.equal(nodeOfSocketUrl('ws://', page), null);
});

test('same node means same host and port, a missing port being the page or scheme default', () => {
  assert.ok(sameNode(n1, { phx_host: '127.0.0.1', phx_port: null }, page));
  assert.ok(!sameNode(n1, n2, page));
  assert.ok(sameNode({ phx_host: 'A.test', phx_port: '80' }, { phx_host: 'a.test', phx_port: null }, page));
  assert.ok(!sameNode({ phx_host: 'a.test', phx_port: '80' }, { phx_host: 'b.test', phx_port: '80' }, page));
});

test('meta is asked at the page origin first, then remembered nodes, the avoided node last', () => {
  const urls = metaCandidates(page, [n1, n2, n3], n2).map((c) => c.url);
  assert.deepEqual(urls, ['/api/v1/meta', 'http://node3.plexus.test:443/api/v1/meta', 'http://127.0.0.1:4002/api/v1/meta']);
});

test('the page node is not asked twice, and without remembered nodes only the page origin is asked', () => {
  assert.deepEqual(
    metaCandidates(page, [n2, n1], null).map((c) => c.url),
    ['/api/v1/meta', 'http://127.0.0.1:4002/api/v1/meta'],
  );
  assert.deepEqual(
    metaCandidates(page, [], n1).map((c) => c.url),
    ['/api/v1/meta'],
  );
});

test('the named node is chosen unless it is the avoided node and another node answered', () => {
  assert.deepEqual(chooseNode({ node: n2, nodes: [] }, n1, n1, page), n2);
  // Node 2 answered but still lists dead node 1 as the pick: go to node 2.
  assert.deepEqual(chooseNode({ node: n1, nodes: [n1, n2] }, n2, n1, page), n2);
  // The avoided node itself answered and names itself: it is alive after all.
  assert.deepEqual(chooseNode({ node: n1, nodes: [n1] }, n1, n1, page), n1);
  // No node named: the one that answered.
  assert.deepEqual(chooseNode({ node: null, nodes: [] }, n3, null, page), n3);
});

/** A fetcher answering from a table; a missing URL is a network error. Records what was asked. */
function fakeFetcher(answers: Record<string, unknown>): { asked: string[]; fetch: (url: string) => Promise<unknown> } {
  const asked: string[] = [];
  return {
    asked,
    fetch: async (url: string) => {
      asked.push(url);
      if (!(url in answers)) throw new TypeError('Failed to fetch');
      return answers[url];
    },
  };
}

test('when the page origin is dead, the finder asks a remembered node and goes there', async () => {
  const f = fakeFetcher({
    '/api/v1/meta': { phx_host: '127.0.0.1', phx_port: '4001', nodes: [n1, n2] },
  });
  const finder = new NodeFinder(page, f.fetch);
  await finder.learn();
  assert.deepEqual(finder.nodes, [n1, n2]);

  const afterCrash = fakeFetcher({
    // Node 2 still lists node 1 (its directory entry has not expired yet) and picks it.
    'http://127.0.0.1:4002/api/v1/meta': { phx_host: '127.0.0.1', phx_port: '4001', nodes: [n1, n2, n3] },
  });
  const finder2 = new NodeFinder(page, afterCrash.fetch);
  finder2.nodes = finder.nodes;
  assert.deepEqual(await finder2.find(n1), n2);
  assert.deepEqual(afterCrash.asked, ['/api/v1/meta', 'http://127.0.0.1:4002/api/v1/meta']);
  assert.deepEqual(finder2.nodes, [n1, n2, n3], 'the answer refreshed the remembered nodes');
});

test('the avoided node is asked when nothing else answers; nothing answering gives null', async () => {
  const onlyAvoided = fakeFetcher({ 'http://127.0.0.1:4002/api/v1/meta': { phx_host: '127.0.0.1', phx_port: '4002', nodes: [n2] } });
  const finder = new NodeFinder({ ...page, port: '4009' }, onlyAvoided.fetch);
  finder.nodes = [n2, n3];
  assert.deepEqual(await finder.find(n2), n2);
  assert.deepEqual(onlyAvoided.asked, ['/api/v1/meta', 'http://node3.plexus.test:443/api/v1/meta', 'http://127.0.0.1:4002/api/v1/meta']);

  const none = fakeFetcher({});
  const lost = new NodeFinder(page, none.fetch);
  lost.nodes = [n1, n2];
  assert.equal(await lost.find(null), null);
  assert.equal(none.asked.length, 2);
});

test('an answer with an empty nodes list keeps the remembered nodes; a garbage answer is skipped', async () => {
  const f = fakeFetcher({
    '/api/v1/meta': 'not json object',
    'http://127.0.0.1:4002/api/v1/meta': { phx_host: '127.0.0.1', phx_port: '4002', nodes: [] },
  });
  const finder = new NodeFinder(page, f.fetch);
  finder.nodes = [n1, n2];
  assert.deepEqual(await finder.find(n1), n2);
  assert.deepEqual(finder.nodes, [n1, n2]);
});
