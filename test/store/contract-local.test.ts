import path from 'node:path';
import { LocalStorage } from '../../src/store/index.js';
import { tempDir } from '../helpers/tmp.js';
import { storageContract, strictContract } from './contract.js';

storageContract('local directory', {
  make: async () => new LocalStorage(path.join(await tempDir(), 'repo')),
  enforcesConditions: true,
});

strictContract('local directory', {
  make: async () => new LocalStorage(path.join(await tempDir(), 'repo')),
  enforcesConditions: true,
});
