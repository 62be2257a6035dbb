import path from 'node:path';
import { LocalStorage } from '../../src/store/index.js';
import { tempDir } from '../helpers/tmp.js';
import { type ContractBackend, storageContract, strictContract } from './contract.js';

const backend: ContractBackend = {
  make: async () => new LocalStorage(path.join(await tempDir(), 'repo')),
  enforcesConditions: true,
};
storageContract('local directory', backend);
strictContract('local directory', backend);
