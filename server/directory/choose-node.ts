import type { NodeInfo } from './node-directory.ts';

/**
 * The node a client should connect to: this node when it is serving normally
 * (the request reached it, so it is alive, and whatever balanced the request
 * chose it), otherwise the non-draining node with the fewest connections;
 * null when there is none.
 * @param selfHealthy false while this node is draining or cut off from Redis
 */
export function chooseNode(nodes: NodeInfo[], selfId: string, selfHealthy: boolean): NodeInfo | null {
  const self = nodes.find((n) => n.id === selfId);
  if (self && selfHealthy && !self.draining) return self;
  let best: NodeInfo | null = null;
  for (const n of nodes) {
    if (n.id === selfId || n.draining) continue;
    if (!best || n.connections < best.connections) best = n;
  }
  return best;
}
