import { netnsContract } from '../../contract/netns.js';
import { FakeNetns } from '../../fakes/host.js';

netnsContract('FakeNetns', async () => {
  const netns = new FakeNetns();
  return { netns, prefix: 'berth-ports-', name: (what) => `berth-ports-${what}`, pid: 4242, cleanup: async () => undefined };
});
