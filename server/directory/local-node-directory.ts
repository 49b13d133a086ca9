import { randomBytes } from 'node:crypto';
import type { NodeDirectory, NodeInfo, SelfReport } from './node-directory.ts';

/** The directory of a single node (no Redis): only this node, as its report says now. */
export class LocalNodeDirectory implements NodeDirectory {
  private report: SelfReport | null = null;
  constructor(readonly nodeId: string = randomBytes(16).toString('hex')) {}
  start(report: SelfReport): void {
    this.report = report;
  }
  async refresh(): Promise<void> {}
  async nodes(): Promise<NodeInfo[]> {
    return this.report ? [{ id: this.nodeId, ...this.report() }] : [];
  }
  async close(): Promise<void> {
    this.report = null;
  }
}
