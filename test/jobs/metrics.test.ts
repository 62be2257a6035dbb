/**
 * The worker's metrics are the jobs module's (registerWorkerMetrics): a program that runs its own ConversionWorker
 * gets the same counters `msb worker --metrics-port` serves. A real redis-server and a real worker; builds go
 * through the builder double (no TensorRT or GPU here), imports through the real import path.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ConversionClient, ConversionWorker, registerWorkerMetrics } from '../../src/jobs/index.js';
import { Registry } from '../../src/server/index.js';
import { skipWithout, testdata } from '../helpers/paths.js';
import { TestRedis } from '../helpers/redis.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/until.js';
import { FakeBuilder } from './fake-builder.js';

const conv = testdata('onnx', 'onnx-backend', 'pytorch-operator', 'test_operator_conv', 'model.onnx');

let redis: TestRedis;
let worker: ConversionWorker;
let client: ConversionClient;
let metrics: { close(): Promise<void> };
const registry = new Registry();
const dir = await tempDir();
before(async () => {
  redis = await TestRedis.start();
  worker = await ConversionWorker.start({
    redis: redis.url,
    store: path.join(dir, 'store'),
    builder: new FakeBuilder(),
    graceMs: 1000,
  });
  metrics = registerWorkerMetrics(registry, worker);
  client = new ConversionClient({ redis: redis.url });
});
after(async () => {
  await metrics.close();
  await worker.close();
  await client.close();
  await redis.stop();
});

/** The value of one sample line of the Prometheus text, or undefined. */
function sample(text: string, line: RegExp): number | undefined {
  const m = text.match(new RegExp(`^${line.source} (\\S+)$`, 'm'));
  return m ? Number(m[1]) : undefined;
}

test('registerWorkerMetrics counts the jobs a library-run worker finishes, by queue and outcome', async () => {
  const junk = path.join(dir, 'junk.onnx');
  await writeFile(junk, 'not a model');
  const failed = await client.enqueue({ kind: 'import', source: junk, output: { model: 'junk' } });
  await assert.rejects(failed.result(20_000));
  // The client can learn the outcome from Redis a moment before the worker's own 'completed'/'failed' event.
  await until('the worker to count the job', async () => /outcome="failed"/.test(await registry.metrics()));
  const text = await registry.metrics();
  assert.equal(sample(text, /msb_jobs_total\{queue="msb-import",outcome="failed"\}/), 1, text);
  assert.equal(sample(text, /msb_redis_up/), 1, text);
  assert.equal(sample(text, /msb_queue_jobs\{queue="msb-import",state="failed"\}/), 1, text);
});

test('registerWorkerMetrics: a build counts as completed on its queue and its build time is observed', {
  skip: skipWithout(conv),
}, async () => {
  const built = await client.enqueue({
    kind: 'build',
    source: conv,
    target: { tensorrt: '10.8', gpu: '8.6' },
    output: { model: 'conv_trt' },
  });
  const result = await built.result(20_000);
  await until('the worker to count the job', async () => /outcome="completed"/.test(await registry.metrics()));
  const text = await registry.metrics();
  assert.equal(sample(text, /msb_jobs_total\{queue="msb-trt10\.8-sm86",outcome="completed"\}/), 1, text);
  assert.equal(sample(text, /msb_build_seconds_count/), 1, text);
  assert.equal(sample(text, /msb_build_seconds_sum/), result.buildSeconds, text);
});
