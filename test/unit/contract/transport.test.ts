import { transportContract } from '../../contract/transport.js';
import { MemoryContentStore } from '../../fakes/content-store.js';
import { FakeTransport } from '../../fakes/transport.js';

transportContract('FakeTransport', async () => {
  const store = new MemoryContentStore();
  const transport = new FakeTransport(
    'docker',
    store,
    new Map([['reg.test/app:1', { layers: [Buffer.from('layer one'), Buffer.from('layer two')] }]]),
  );
  return {
    transport,
    store,
    present: { transport: 'docker', raw: 'reg.test/app:1', registry: 'reg.test', repository: 'app', tag: '1' },
    absent: { transport: 'docker', raw: 'reg.test/app:404', registry: 'reg.test', repository: 'app', tag: '404' },
    sourceCheck: 'before-layers',
    cleanup: async () => undefined,
  };
});
