import { MemoryPresenceStore } from './memory-presence-store.ts';
import { presenceContract } from './presence-contract.ts';

presenceContract('MemoryPresenceStore', async () => {
  const store = new MemoryPresenceStore();
  return { store, dispose: () => store.close() };
});
