import { contentStoreContract } from '../../contract/content-store.js';
import { MemoryContentStore } from '../../fakes/content-store.js';

contentStoreContract('MemoryContentStore', async () => ({ store: new MemoryContentStore(), cleanup: async () => undefined }));
