/**
 * `msb worker --triton/--gpus` on a real Redis: the worker's publishes apply the release checks of the one publish
 * flow, so an import Triton at that release (or a GPU of the fleet) cannot load fails at once, unretried, and writes
 * nothing; one that only meets unknowns is published.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ConversionClient, ConversionWorker } from '../../src/jobs/index.js';
import type { RedisLink } from '../../src/redis/index.js';
import { closedAfterEach } from '../helpers/closing.js';
import { pythonHasOnnx } from '../helpers/python.js';
import { adminRedis, flushAll, startTestRedis, type TestTopology } from '../helpers/redis.js';
import { tempDir } from '../helpers/tmp.js';
import { FakeBuilder } from '../jobs/fake-builder.js';
import { makeOnnx, makePlan } from './fixtures.js';

const hasOnnx = pythonHasOnnx();
const dir = await tempDir('msb-release-worker-');
const onnx = hasOnnx ? makeOnnx(dir) : { opset13: '', opset22: '' };
let redis: TestTopology;
let admin: RedisLink;
const track = closedAfterEach();

before(async () => {
  redis = await startTestRedis();
  admin = await adminRedis(redis.url);
});
after(async () => {
  await admin.close();
  await redis.stop();
});

async function worker(store: string, options: { triton?: string; gpus?: string[] }) {
  return track(
    await ConversionWorker.start({
      redis: redis.url,
      store,
      builder: new FakeBuilder({ identity: { reason: 'no TensorRT here' } }),
      graceMs: 1000,
      heartbeatMs: 500,
      ...options,
    }),
  );
}

test('a worker with --triton fails an import whose opset the release ONNX Runtime lacks, and publishes one it reads', {
  skip: hasOnnx ? false : 'needs python3-onnx',
}, async () => {
  await flushAll(admin.connection);
  const store = path.join(dir, 'onnx-store');
  await worker(store, { triton: '24.10' });
  const c = track(new ConversionClient({ redis: redis.url, backoffMs: 100 }));
  const bad = await c.enqueue({ kind: 'import', source: onnx.opset22, output: { model: 'new' } });
  await assert.rejects(bad.result(20_000), /MSB_RELEASE_INCOMPATIBLE: .*opset 22 is above 21/);
  assert.equal((await c.get(bad.id))?.attemptsMade, 1, 'unrecoverable: not retried');
  assert.equal(existsSync(path.join(store, 'new')), false, 'nothing written');
  const good = await c.enqueue({ kind: 'import', source: onnx.opset13, output: { model: 'old' } });
  assert.deepEqual(await good.result(20_000), { kind: 'import', model: 'old', version: 1 });
});

test('a worker with --gpus fails an import of a plan a GPU of the fleet cannot load', async () => {
  await flushAll(admin.connection);
  const store = path.join(dir, 'plan-store');
  await worker(store, { gpus: ['8.0', '8.6'] });
  const c = track(new ConversionClient({ redis: redis.url, backoffMs: 100 }));
  const p86 = await makePlan(path.join(dir, 'p86.plan'), [10, 3, 0], { computeCapability: '8.6' });
  const bad = await c.enqueue({ kind: 'import', source: p86, output: { model: 'det' } });
  await assert.rejects(bad.result(20_000), /MSB_RELEASE_INCOMPATIBLE: .*gpu-plan: .*compute capability 8\.0/);
  // another TensorRT in the header makes other bytes: equal bytes would be the same (failed) job
  const hw = await makePlan(path.join(dir, 'hw.plan'), [10, 4, 0], {
    computeCapability: '8.6',
    buildOptions: { hardwareCompatibility: 'ampere+' },
  });
  const good = await c.enqueue({ kind: 'import', source: hw, output: { model: 'det' } });
  assert.deepEqual(await good.result(20_000), { kind: 'import', model: 'det', version: 1 });
});

test('a worker refuses to start with an unknown release', async () => {
  await assert.rejects(worker(path.join(dir, 'x'), { triton: '99.01' }), /MSB_RELEASE_UNKNOWN|not a Triton release/);
});
