/**
 * The contract every {@link NodeDirectory} implementation passes (DESIGN.md:
 * "every implementation passes one shared contract suite"), like the
 * broker's. Used by local-node-directory.test.ts and
 * redis-node-directory.int.test.ts. The cluster tests run only for
 * implementations whose clusters hold more than one node.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { NodeDirectory, NodeInfo } from './node-directory.ts';

/** Directories acting as the nodes of one cluster, made by a {@link DirectoryClusterFactory}. */
export interface DirectoryCluster {
  /** One directory per node, none started. */
  nodes: NodeDirectory[];
  /** Closes whatever the nodes did not (called after the suite; `close()` on a node may already have run). */
  dispose(): Promise<void>;
}

/** Makes a fresh cluster of `n` nodes that share nothing with earlier clusters. */
export type DirectoryClusterFactory = (n: number) => Promise<DirectoryCluster>;

/** A node's report that a test can change. */
function reporter(port: string) {
  const state = { phx_host: 'node.example', phx_port: port, connections: 0, draining: false };
  return { state, report: () => ({ ...state }) };
}

const byId = (nodes: NodeInfo[], id: string) => nodes.filter((n) => n.id === id);

/**
 * Registers the directory contract tests (node:test) under `describe(name)`.
 * @param name e.g. `'LocalNodeDirectory'`
 * @param factory makes a fresh cluster per test
 * @param maxNodes the most nodes one cluster can hold (1 for a single-node directory)
 */
export function directoryContract(name: string, factory: DirectoryClusterFactory, maxNodes: number): void {
  describe(`${name} contract`, () => {
    const clusters: DirectoryCluster[] = [];
    const make = async (n: number) => {
      const c = await factory(n);
      clusters.push(c);
      return c.nodes;
    };
    after(async () => {
      for (const c of clusters) await c.dispose();
    });

    test('a directory lists nothing of its node before start, then the node with its id and its report', async () => {
      const [d] = (await make(1)) as [NodeDirectory];
      assert.match(d.nodeId, /^[0-9a-f]{32}$/);
      assert.deepEqual(byId(await d.nodes(), d.nodeId), []);
      await d.refresh();
      const r = reporter('4000');
      r.state.connections = 2;
      d.start(r.report);
      await d.refresh();
      assert.deepEqual(byId(await d.nodes(), d.nodeId), [{ id: d.nodeId, phx_host: 'node.example', phx_port: '4000', connections: 2, draining: false }]);
    });

    test('a node lists itself as its report says now, draining included', async () => {
      const [d] = (await make(1)) as [NodeDirectory];
      const r = reporter('4001');
      d.start(r.report);
      r.state.draining = true;
      r.state.connections = 7;
      await d.refresh();
      assert.deepEqual(byId(await d.nodes(), d.nodeId), [{ id: d.nodeId, phx_host: 'node.example', phx_port: '4001', connections: 7, draining: true }]);
    });

    test('a closed directory no longer lists its node; closing twice and refreshing after close are harmless', async () => {
      const [d] = (await make(1)) as [NodeDirectory];
      d.start(reporter('4002').report);
      await d.refresh();
      await d.close();
      await d.close();
      await d.refresh();
      assert.deepEqual(byId(await d.nodes(), d.nodeId), []);
    });

    // Cluster cases exist only for implementations that can hold several nodes (not registered, rather than skipped, otherwise).
    if (maxNodes >= 3) test('each node lists every started node once, with what it registered', async () => {
      const nodes = await make(3);
      const ids = nodes.map((d) => d.nodeId);
      assert.equal(new Set(ids).size, 3, 'node ids are distinct');
      for (const [i, d] of nodes.entries()) {
        d.start(reporter(String(5000 + i)).report);
        await d.refresh();
      }
      for (const d of nodes) {
        const listed = await d.nodes();
        assert.deepEqual(listed.map((n) => n.id).sort(), [...ids].sort());
        for (const [i, id] of ids.entries()) assert.equal(byId(listed, id)[0]!.phx_port, String(5000 + i));
      }
    });

    if (maxNodes >= 2) test('the others see a node as draining once it refreshes while draining, and drop it as soon as it closes', async () => {
      const [a, b] = (await make(2)) as [NodeDirectory, NodeDirectory];
      const ra = reporter('6000');
      a.start(ra.report);
      b.start(reporter('6001').report);
      await a.refresh();
      assert.equal(byId(await b.nodes(), a.nodeId)[0]?.draining, false);
      ra.state.draining = true;
      await a.refresh();
      assert.equal(byId(await b.nodes(), a.nodeId)[0]?.draining, true);
      await a.close();
      assert.deepEqual(byId(await b.nodes(), a.nodeId), []);
      assert.equal(byId(await b.nodes(), b.nodeId).length, 1);
    });
  });
}
