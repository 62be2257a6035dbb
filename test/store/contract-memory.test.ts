import { randomBytes } from 'node:crypto';
import { ObjectStorage } from '../../src/store/object-storage.js';
import { storageContract, strictContract } from './contract.js';
import { MemoryClient } from './memory-client.js';

storageContract('in-memory object store (S3 preconditions enforced)', {
  make: async () => new ObjectStorage(new MemoryClient(), { prefix: `models-${randomBytes(4).toString('hex')}` }),
  enforcesConditions: true,
});

strictContract('in-memory object store (S3 preconditions enforced)', {
  make: async () => new ObjectStorage(new MemoryClient(), { prefix: `models-${randomBytes(4).toString('hex')}` }),
  enforcesConditions: true,
});
