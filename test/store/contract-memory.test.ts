import { randomBytes } from 'node:crypto';
import { ObjectStorage } from '../../src/store/object-storage.js';
import { type ContractBackend, storageContract, strictContract } from './contract.js';
import { MemoryClient } from './memory-client.js';

const backend: ContractBackend = {
  make: async () => new ObjectStorage(new MemoryClient(), { prefix: `models-${randomBytes(4).toString('hex')}` }),
  enforcesConditions: true,
};
storageContract('in-memory object store (S3 preconditions enforced)', backend);
strictContract('in-memory object store (S3 preconditions enforced)', backend);
