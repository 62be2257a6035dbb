/**
 * For the Python tests: a real S3 server (s3rver, test/helpers/s3.ts) and a real redis-server for the store's
 * leases (s3rver ignores conditional writes), described as one JSON line on stdout: the store URI and the
 * environment msb needs for it. Both stop when stdin closes.
 */
import { TestRedis } from '../helpers/redis.js';
import { S3RVER_ENV, TestS3 } from '../helpers/s3.js';

const s3 = await TestS3.start();
const redis = await TestRedis.start();
process.stdout.write(`${JSON.stringify({ uri: s3.uri('repo'), env: { ...S3RVER_ENV, REDIS_URL: redis.url } })}\n`);
process.stdin.resume();
process.stdin.on('end', async () => {
  await s3.stop();
  await redis.stop();
  process.exit(0);
});
