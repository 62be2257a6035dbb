import { randomBytes } from 'node:crypto';
import { openStorage } from '../../src/store/store.js';
import { useS3WithRedis } from '../helpers/s3.js';
import { type ContractBackend, storageContract, strictContract } from './contract.js';

const servers = useS3WithRedis();

// s3rver ignores If-None-Match/If-Match: the probe finds that out and the store coordinates writers through Redis.
const backend: ContractBackend = {
  make: () =>
    openStorage(servers.s3().uri(`models-${randomBytes(4).toString('hex')}`), {
      redis: servers.redis().url,
      warn: (m) => {
        throw new Error(`unexpected warning: ${m}`);
      },
    }),
  enforcesConditions: false,
};
storageContract('s3rver over HTTP (ignores conditional writes; Redis leases)', backend);
strictContract('s3rver over HTTP (ignores conditional writes; Redis leases)', backend);
