import { brokerContract } from './broker-contract.ts';
import { MemoryBroker, MemoryBus } from './memory-broker.ts';

brokerContract('MemoryBroker', async (n) => {
  const bus = new MemoryBus();
  const nodes = Array.from({ length: n }, () => new MemoryBroker(bus));
  return {
    nodes,
    settle: async () => {},
    dispose: async () => {
      for (const node of nodes) await node.close();
    },
  };
});
