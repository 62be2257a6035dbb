/**
 * A conversion worker in its own process, for the kill -9 test: env REDIS_URL, STORE; the builder is the test
 * double, slow enough to be killed mid-build. Prints "ready" once consuming.
 */
import { ConversionWorker } from '../../src/jobs/index.js';
import { FakeBuilder } from './fake-builder.js';

const worker = await ConversionWorker.start({
  redis: process.env.REDIS_URL as string,
  store: process.env.STORE as string,
  builder: new FakeBuilder({ steps: 400 }),
  lockMs: 1000,
});
process.stdout.write(`ready ${worker.id}\n`);
