/**
 * The conversion worker's TensorRT path end to end through the real addon (ASan build) and the TensorRT double: the
 * worker's identity comes from the addon (TensorRT version from libnvinfer, the GPU from the libcuda double), builds
 * run `tensorrtEngineBuilder`, and the published plan, sidecar and config are checked in the store. This is what
 * test/jobs/fake-builder.ts stands in for in `npm test`. Run by `npm run test:tensorrt-contract`.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { parseModelConfig } from '../../src/config/index.js';
import { ConversionClient, ConversionWorker, KEYS, targetQueue } from '../../src/jobs/index.js';
import { writeSampleModels } from '../../src/jobs/samples.js';
import { ModelStore } from '../../src/store/index.js';
import { inspectEngine, tensorrt } from '../../src/tensorrt/index.js';
import { TestRedis } from '../helpers/redis.js';

// The sanitizer runtime is preloaded for this process only: redis-server and python run without it.
delete process.env.LD_PRELOAD;
const skip =
  !(process.env.MSB_LIBNVINFER && process.env.MSB_LIBCUDA) &&
  'run through `npm run test:tensorrt-contract` (needs MSB_TENSORRT_HEADERS)';

let redis: TestRedis;
let admin: Redis;
let dir: string;
let store: string;
let identityModel: string;
let target: { tensorrt: string; gpu: string };
const open: { close(): Promise<void> }[] = [];
const profiles = [{ INPUT0: { min: [1, 16], opt: [4, 16], max: [8, 16] } }];

before(async () => {
  if (skip) return;
  redis = await TestRedis.start();
  admin = new Redis(redis.url);
  dir = await mkdtemp(path.join(os.tmpdir(), 'msb-trt-worker-'));
  const samples = await writeSampleModels(dir);
  identityModel = samples.find((s) => s.name === 'identity')?.file as string;
  const s = tensorrt.status();
  target = { tensorrt: `${s.major}.${s.minor}`, gpu: '8.6' };
});
after(async () => {
  if (skip) return;
  admin.disconnect();
  await redis.stop();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  if (skip) return;
  await admin.flushall();
  store = await mkdtemp(path.join(dir, 'store-'));
});
afterEach(async () => {
  for (const x of open.splice(0).reverse()) await x.close();
});

async function start(): Promise<{ worker: ConversionWorker; client: ConversionClient }> {
  const worker = await ConversionWorker.start({ redis: redis.url, store, graceMs: 1000, heartbeatMs: 500 });
  open.push(worker);
  const client = new ConversionClient({ redis: redis.url, backoffMs: 100 });
  open.push(client);
  return { worker, client };
}

async function waitForState(client: ConversionClient, id: string, state: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await client.get(id))?.state === state) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`job ${id} never became ${state}`);
}

describe('the worker through the real addon and the TensorRT double', { skip }, () => {
  it('the worker serves the queues of the TensorRT and GPU the addon reports', async () => {
    const { worker } = await start();
    assert.deepEqual(worker.identity, {
      tensorrt: target.tensorrt,
      tensorrtVersion: tensorrt.status().version,
      computeCapability: '8.6',
    });
    assert.ok(worker.queues.includes(targetQueue(target)));
    assert.ok(worker.queues.includes(targetQueue({ tensorrt: target.tensorrt, gpu: 'ampere+' })));
  });

  it('a build job goes from enqueue to a published plan + sidecar + config; the options reach TensorRT', async () => {
    const { client } = await start();
    const h = await client.enqueue({
      kind: 'build',
      source: identityModel,
      target,
      output: { model: 'identity_trt' },
      build: { profiles, optimizationLevel: 4, workspaceBytes: 1 << 28, versionCompatible: true },
    });
    const result = await h.result(60_000);
    assert.deepEqual([result.model, result.version, result.reusedPlan], ['identity_trt', 1, false]);
    const versionDir = path.join(store, 'identity_trt', '1');
    const plan = await readFile(path.join(versionDir, 'model.plan'));
    assert.equal(plan.subarray(0, 8).toString(), 'ftrtMSBD');
    const sidecar = JSON.parse(await readFile(path.join(versionDir, 'model.plan.msb.json'), 'utf8'));
    assert.equal(sidecar.tensorrt, tensorrt.status().version);
    assert.equal(sidecar.computeCapability, '8.6');
    assert.deepEqual(sidecar.signature.inputs, [{ name: 'INPUT0', dataType: 'TYPE_FP32', dims: [-1, 16] }]);
    assert.equal(sidecar.signature.maxBatchSize, 8);
    const config = parseModelConfig(await readFile(path.join(store, 'identity_trt', 'config.pbtxt'), 'utf8'));
    assert.equal(config.platform, 'tensorrt_plan');
    assert.equal(config.maxBatchSize, 8);
    assert.deepEqual(
      config.input?.map((t) => [t.name, t.dataType, t.dims?.map(Number)]),
      [['INPUT0', 'TYPE_FP32', [16]]],
    );
    assert.deepEqual(await (await ModelStore.open(store)).validate(), []);

    // The published plan, read back through the addon: the job's options were applied.
    const info = (await inspectEngine(plan)).engineInformation as { msbDouble: Record<string, unknown> };
    assert.deepEqual(info.msbDouble.flags, ['kVERSION_COMPATIBLE']);
    assert.equal(info.msbDouble.builderOptimizationLevel, 4);
    assert.deepEqual(info.msbDouble.memoryPools, { 0: 1 << 28 });
    assert.equal(info.msbDouble.hardwareCompatibilityLevel, 0);

    // The timing cache TensorRT returned is kept per target for the next build.
    const cache = await admin.getBuffer(KEYS.timingCache(targetQueue(target)));
    assert.match(cache?.toString() ?? '', /^MSBDOUBLE-TIMING-CACHE 1\nINPUT0:/);
    // Same bytes and options: the plan cache answers without a build.
    const again = await (
      await client.enqueue({
        kind: 'build',
        source: identityModel,
        target,
        output: { model: 'identity_again' },
        build: { profiles, optimizationLevel: 4, workspaceBytes: 1 << 28, versionCompatible: true },
      })
    ).result(60_000);
    assert.equal(again.reusedPlan, true);
  });

  it('an ampere+ build is hardware compatible; an inspect job records the plan’s signature beside it', async () => {
    const { client } = await start();
    const ampere = { tensorrt: target.tensorrt, gpu: 'ampere+' };
    await (
      await client.enqueue({
        kind: 'build',
        source: identityModel,
        target: ampere,
        output: { model: 'm' },
        build: { profiles },
      })
    ).result(60_000);
    const plan = path.join(dir, 'copied.plan');
    await copyFile(path.join(store, 'm', '1', 'model.plan'), plan);
    const info = (await inspectEngine(plan)).engineInformation as { msbDouble: Record<string, unknown> };
    assert.equal(info.msbDouble.hardwareCompatibilityLevel, 1); // kAMPERE_PLUS
    const r = await (await client.enqueue({ kind: 'inspect', source: plan, target })).result(60_000);
    const record = JSON.parse(await readFile(r.record as string, 'utf8'));
    assert.deepEqual(record.signature.outputs, [{ name: 'OUTPUT0', dataType: 'TYPE_FP32', dims: [-1, 16] }]);
    assert.equal(record.computeCapability, '8.6');
  });

  it('cancelling a running build stops TensorRT at its next step; nothing is published', async () => {
    process.env.MSB_DOUBLE_STEP_MS = '300';
    try {
      const { client } = await start();
      const h = await client.enqueue({
        kind: 'build',
        source: identityModel,
        target,
        output: { model: 'cancelled' },
        build: { profiles: Array.from({ length: 8 }, () => profiles[0] as (typeof profiles)[number]) },
      });
      await waitForState(client, h.id, 'active');
      const started = Date.now();
      await client.cancel(h.id);
      await assert.rejects(h.result(20_000), /cancelled/);
      // The whole build takes 17 steps of 300 ms (> 5 s); a cancel stops it at the next step.
      assert.ok(Date.now() - started < 4000, `the build went on for ${Date.now() - started} ms`);
      assert.equal(existsSync(path.join(store, 'cancelled')), false);
    } finally {
      delete process.env.MSB_DOUBLE_STEP_MS;
    }
  });

  it('a model TensorRT’s parser refuses fails the job at once with the parser’s reason', async () => {
    process.env.MSB_DOUBLE_UNSUPPORTED_OPS = 'Identity';
    try {
      const { client } = await start();
      const h = await client.enqueue({
        kind: 'build',
        source: identityModel,
        target,
        output: { model: 'refused' },
        build: { profiles },
      });
      await assert.rejects(h.result(20_000), /MSB_TENSORRT_ONNX_PARSE: .*No importer registered for op: Identity/);
      assert.equal((await client.get(h.id))?.attemptsMade, 1);
      assert.equal(existsSync(path.join(store, 'refused')), false);
    } finally {
      delete process.env.MSB_DOUBLE_UNSUPPORTED_OPS;
    }
  });
});
