import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import { openStorage } from '../../src/store/store.js';
import { TestRedis } from '../helpers/redis.js';
import { TestS3 } from '../helpers/s3.js';
import { storageContract, strictContract } from './contract.js';

let s3: TestS3;
let redis: TestRedis;
before(async () => {
  s3 = await TestS3.start();
  redis = await TestRedis.start();
});
after(async () => {
  await s3.stop();
  await redis.stop();
});

// s3rver ignores If-None-Match/If-Match: the probe finds that out and the store coordinates writers through Redis.
storageContract('s3rver over HTTP (ignores conditional writes; Redis leases)', {
  make: () =>
    openStorage(s3.uri(`models-${randomBytes(4).toString('hex')}`), {
      redis: redis.url,
      warn: (m) => {
        throw new Error(`unexpected warning: ${m}`);
      },
    }),
  enforcesConditions: false,
});

strictContract('s3rver over HTTP (ignores conditional writes; Redis leases)', {
  make: () =>
    openStorage(s3.uri(`models-${randomBytes(4).toString('hex')}`), {
      redis: redis.url,
      warn: (m) => {
        throw new Error(`unexpected warning: ${m}`);
      },
    }),
  enforcesConditions: false,
});
