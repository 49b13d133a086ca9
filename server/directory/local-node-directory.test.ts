import { randomBytes } from 'node:crypto';
import { directoryContract } from './directory-contract.ts';
import { LocalNodeDirectory } from './local-node-directory.ts';

directoryContract(
  'LocalNodeDirectory',
  async (n) => {
    const nodes = Array.from({ length: n }, () => new LocalNodeDirectory(randomBytes(16).toString('hex')));
    return {
      nodes,
      dispose: async () => {
        for (const d of nodes) await d.close();
      },
    };
  },
  1,
);
